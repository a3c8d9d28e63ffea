import { randomBytes } from 'node:crypto';
import { checkLeaseRequest, isLiveLease, type LeaseRow, sameToken, toLease } from '../records.js';
import type { LeaseRequest, LeaseResult } from '../types.js';
import type { Queryable } from './rows.js';

/*
 * Leases on PostgreSQL (SPEC 3.9), in the `leases` table, one row per resource ever leased; see
 * ../sqlite/leases.ts for the model (a live lease has a token and a future expiry; releasing keeps
 * the row and its fencing counter). A lease call locks the resource's head FOR UPDATE first, the
 * lock every commit takes before checking leases (commit.ts): a lease and a write on one resource
 * are thereby ordered, in one process or many, and of many acquirers exactly one wins.
 */

/** Runs one lease request inside the caller's transaction on schema `s` (quoted). */
export async function leaseIn(
  db: Queryable,
  s: string,
  collection: string,
  id: string,
  r: LeaseRequest,
): Promise<LeaseResult> {
  checkLeaseRequest(r);
  const head = await db.query<{ deleted: boolean }>({
    name: 'truce_lease_head',
    text: `SELECT deleted FROM ${s}.heads WHERE collection = $1 AND id = $2 FOR UPDATE`,
    values: [collection, id],
  });
  if (head.rows[0]?.deleted !== false) return { ok: false, reason: 'not-found' };
  const found = await db.query<LeaseRow>({
    name: 'truce_lease_read',
    text: `SELECT token, owner, fencing, ttl_ms, expires_at FROM ${s}.leases WHERE collection = $1 AND id = $2`,
    values: [collection, id],
  });
  const row = found.rows[0];
  const live = isLiveLease(row, r.now) ? row : undefined;
  // The lease row, and its mirror on the head (schema.ts, version 2) that one-statement creates and
  // batched writes read.
  const put = (next: LeaseRow) =>
    db.query({
      name: 'truce_lease_put',
      text: `WITH mirrored AS (
          UPDATE ${s}.heads SET lease_token = $3, lease_owner = $4, lease_expires_at = $7
          WHERE collection = $1 AND id = $2
        )
        INSERT INTO ${s}.leases (collection, id, token, owner, fencing, ttl_ms, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (collection, id) DO UPDATE SET token = excluded.token, owner = excluded.owner,
          fencing = excluded.fencing, ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at`,
      values: [collection, id, next.token, next.owner, next.fencing, next.ttl_ms, next.expires_at],
    });

  if (r.action === 'release') {
    if (live === undefined || !sameToken(live.token, r.token)) return { ok: false, reason: 'token-mismatch' };
    await put({ ...live, token: null });
    return { ok: true, outcome: 'released', lease: toLease(collection, id, live) };
  }
  if (r.token !== null) {
    if (live === undefined || !sameToken(live.token, r.token)) return { ok: false, reason: 'token-mismatch' };
    // A renewal: the same lease, token, owner and fencing, with a new expiry.
    const ttlMs = r.ttlMs ?? live.ttl_ms;
    const renewed = { ...live, ttl_ms: ttlMs, expires_at: r.now + ttlMs };
    await put(renewed);
    return { ok: true, outcome: 'renewed', lease: toLease(collection, id, renewed) };
  }
  if (live !== undefined)
    return { ok: false, reason: 'locked', owner: live.owner, expiresAt: live.expires_at };
  if (r.ttlMs === undefined) throw new RangeError('A new lease needs ttlMs.');
  const next: LeaseRow & { token: string } = {
    // 144 random bits, URL- and header-safe.
    token: randomBytes(18).toString('base64url'),
    owner: r.owner,
    fencing: (row?.fencing ?? 0) + 1,
    ttl_ms: r.ttlMs,
    expires_at: r.now + r.ttlMs,
  };
  await put(next);
  return { ok: true, outcome: 'acquired', lease: toLease(collection, id, next) };
}
