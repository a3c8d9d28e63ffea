import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { checkLeaseRequest, isLiveLease, type LeaseRow, sameToken, toLease } from '../records.js';
import type { LeaseRequest, LeaseResult, WriteOp } from '../types.js';
import type { Refusal } from '../refusal.js';

/*
 * Leases on SQLite (SPEC 3.9), in the `leases` table (schema.ts). A resource has at most one row;
 * its lease is live while `token` is set and `expires_at > now`. Releasing, or deleting the resource,
 * clears the token and keeps the row, so that the next lease's fencing number counts on from the
 * last one: fencing never repeats for a resource, across leases, expiries, deletes and re-creates.
 *
 * Every decision runs under SQLite's write lock: a lease call in its own BEGIN IMMEDIATE
 * transaction, and the check that a write may go ahead ({@link Leases.check}) inside the commit's
 * transaction. Whichever takes the lock first is seen by the other, in this process or any other
 * on the same file, so a write without the token never commits after a lease was granted, and of
 * many acquirers exactly one gets the lease.
 */

/** 144 random bits, URL- and header-safe (base64url). */
function newToken(): string {
  return randomBytes(18).toString('base64url');
}

/** The lease functions of one connection; see {@link createLeases}. */
export interface Leases {
  /** See `Store.lease`: one IMMEDIATE transaction of its own. */
  lease(collection: string, id: string, request: LeaseRequest): LeaseResult;
  /** Inside a commit: why `op` may not write (someone else's live lease), or undefined. */
  check(op: WriteOp): Refusal | undefined;
  /** Inside a commit that deletes the resource: its lease ends, its fencing counter stays. */
  end(collection: string, id: string): void;
}

/** Prepares the lease statements of a connection whose schema is migrated. */
export function createLeases(db: Database.Database): Leases {
  const read = db.prepare<[string, string], LeaseRow>(
    'SELECT token, owner, fencing, ttl_ms, expires_at FROM leases WHERE collection = ? AND id = ?',
  );
  const put = db.prepare<[string, string, string, string | null, number, number, number], void>(
    `INSERT INTO leases (collection, id, token, owner, fencing, ttl_ms, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (collection, id) DO UPDATE SET token = excluded.token, owner = excluded.owner,
       fencing = excluded.fencing, ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at`,
  );
  const clear = db.prepare<[string, string], void>(
    'UPDATE leases SET token = NULL WHERE collection = ? AND id = ? AND token IS NOT NULL',
  );
  const deleted = db.prepare<[string, string], { deleted: 0 | 1 }>(
    'SELECT deleted FROM heads WHERE collection = ? AND id = ?',
  );

  const lease = db.transaction((collection: string, id: string, r: LeaseRequest): LeaseResult => {
    checkLeaseRequest(r);
    if (deleted.get(collection, id)?.deleted !== 0) return { ok: false, reason: 'not-found' };
    const row = read.get(collection, id);
    const live = isLiveLease(row, r.now) ? row : undefined;
    if (r.action === 'release') {
      if (live === undefined || !sameToken(live.token, r.token))
        return { ok: false, reason: 'token-mismatch' };
      clear.run(collection, id);
      return { ok: true, outcome: 'released', lease: toLease(collection, id, live) };
    }
    if (r.token !== null) {
      if (live === undefined || !sameToken(live.token, r.token))
        return { ok: false, reason: 'token-mismatch' };
      // A renewal: the same lease, token, owner and fencing, with a new expiry.
      const ttlMs = r.ttlMs ?? live.ttl_ms;
      const renewed = { ...live, ttl_ms: ttlMs, expires_at: r.now + ttlMs };
      put.run(collection, id, live.token, live.owner, live.fencing, ttlMs, renewed.expires_at);
      return { ok: true, outcome: 'renewed', lease: toLease(collection, id, renewed) };
    }
    if (live !== undefined) {
      return { ok: false, reason: 'locked', owner: live.owner, expiresAt: live.expires_at };
    }
    if (r.ttlMs === undefined) throw new RangeError('A new lease needs ttlMs.');
    const token = newToken();
    const next: LeaseRow & { token: string } = {
      token,
      owner: r.owner,
      fencing: (row?.fencing ?? 0) + 1,
      ttl_ms: r.ttlMs,
      expires_at: r.now + r.ttlMs,
    };
    put.run(collection, id, token, next.owner, next.fencing, next.ttl_ms, next.expires_at);
    return { ok: true, outcome: 'acquired', lease: toLease(collection, id, next) };
  });

  return {
    // IMMEDIATE: the write lock before the first read, as a commit takes it (see commit.ts).
    lease: (collection, id, request) => lease.immediate(collection, id, request),
    check(op) {
      if (op.lock === undefined) return undefined;
      const row = read.get(op.collection, op.id);
      if (!isLiveLease(row, op.lock.now) || sameToken(row.token, op.lock.token)) return undefined;
      return { reason: 'locked', owner: row.owner, expiresAt: row.expires_at };
    },
    end: (collection, id) => void clear.run(collection, id),
  };
}
