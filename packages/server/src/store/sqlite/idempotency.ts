import type Database from 'better-sqlite3';
import type {
  IdempotencyClaim,
  IdempotencyClaimRequest,
  IdempotencyCompletion,
  StoredResponse,
} from '../types.js';

interface KeyRow {
  fingerprint: string;
  done: 0 | 1;
  locked_until: number;
  expires_at: number;
  status: number | null;
  headers: string | null;
  body: string | null;
}

/**
 * Idempotency keys on SQLite (SPEC 3.8). A claim is one IMMEDIATE transaction, so of two requests
 * with one key exactly one claims it, in one process or several. A claim is a lease: a process
 * that died mid-request leaves an in-flight row that another request may take over once
 * `locked_until` passes. Its writes did not happen, because a completed request's answer is written
 * in the same transaction as its writes (see `complete`, called from the commit).
 */
/** The SQLite side of the idempotency-key calls of the Store. */
export interface SqliteIdempotency {
  claim(request: IdempotencyClaimRequest): IdempotencyClaim;
  /** Completes a key inside the transaction the caller holds (a commit). */
  complete(completion: IdempotencyCompletion): void;
  /** Completes a key in a transaction of its own. */
  completeAlone(completion: IdempotencyCompletion): void;
  release(scope: string, key: string): void;
  purge(now: number, limit: number): number;
}

export function createIdempotency(db: Database.Database): SqliteIdempotency {
  const read = db.prepare<[string, string], KeyRow>(
    'SELECT fingerprint, done, locked_until, expires_at, status, headers, body FROM idempotency_keys WHERE scope = ? AND "key" = ?',
  );
  const claimRow = db.prepare<[string, string, string, number, number], void>(
    `INSERT INTO idempotency_keys (scope, "key", fingerprint, done, locked_until, expires_at) VALUES (?, ?, ?, 0, ?, ?)
     ON CONFLICT (scope, "key") DO UPDATE SET fingerprint = excluded.fingerprint, done = 0,
       locked_until = excluded.locked_until, expires_at = excluded.expires_at, status = NULL, headers = NULL, body = NULL`,
  );
  const completeRow = db.prepare<[number, string, string | null, string, string], void>(
    'UPDATE idempotency_keys SET done = 1, status = ?, headers = ?, body = ? WHERE scope = ? AND "key" = ?',
  );
  const releaseRow = db.prepare<[string, string], void>(
    'DELETE FROM idempotency_keys WHERE scope = ? AND "key" = ? AND done = 0',
  );
  const purgeRows = db.prepare<[number, number], void>(
    'DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)',
  );

  const claim = db.transaction((r: IdempotencyClaimRequest): IdempotencyClaim => {
    const row = read.get(r.scope, r.key);
    if (row && row.expires_at > r.now) {
      if (row.fingerprint !== r.fingerprint) return { state: 'mismatch' };
      if (row.done === 1) return { state: 'completed', response: toResponse(row) };
      if (row.locked_until > r.now) return { state: 'in-flight', lockedUntil: row.locked_until };
      // The first request's process stopped answering: its claim lapsed, and nothing it did committed.
    }
    claimRow.run(r.scope, r.key, r.fingerprint, r.now + r.leaseMs, r.expiresAt);
    return { state: 'claimed' };
  });

  const complete = (c: IdempotencyCompletion): void => {
    const r = c.response;
    completeRow.run(r.status, JSON.stringify(r.headers), r.body, c.scope, c.key);
  };

  return {
    claim: (r: IdempotencyClaimRequest) => claim.immediate(r),
    complete,
    completeAlone: (c: IdempotencyCompletion) => db.transaction(() => complete(c))(),
    release: (scope: string, key: string) => void releaseRow.run(scope, key),
    purge: (now: number, limit: number): number => purgeRows.run(now, limit).changes,
  };
}

function toResponse(row: KeyRow): StoredResponse {
  return {
    status: row.status ?? 500,
    headers: row.headers ? (JSON.parse(row.headers) as Record<string, string>) : {},
    body: row.body,
  };
}
