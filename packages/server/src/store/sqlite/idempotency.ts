import type Database from 'better-sqlite3';
import { Refused } from '../refusal.js';
import type {
  CommitResult,
  Head,
  IdempotencyClaim,
  IdempotencyClaimRequest,
  IdempotencyCompletion,
  IdempotentCommit,
  IdempotentCommitResult,
  StoredResponse,
  WriteOp,
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
  /**
   * The work of a `commitIdempotent` call, run by the group commit inside the transaction and the
   * savepoint it holds (group-commit.ts `run`): the claim, the ops and the stored answer together.
   */
  commitKeyed(commit: IdempotentCommit, apply: (ops: readonly WriteOp[]) => Head[]): IdempotentCommitResult;
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

  const storeRow = db.prepare<[string, string, string, number, number, number, string, string | null], void>(
    `INSERT INTO idempotency_keys (scope, "key", fingerprint, done, locked_until, expires_at, status, headers, body)
     VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)
     ON CONFLICT (scope, "key") DO UPDATE SET fingerprint = excluded.fingerprint, done = 1,
       locked_until = excluded.locked_until, expires_at = excluded.expires_at, status = excluded.status,
       headers = excluded.headers, body = excluded.body`,
  );
  // Nested in the group commit's own savepoint: a refusal undoes the ops, not the call.
  const sql = {
    savepoint: db.prepare('SAVEPOINT truce_keyed_ops'),
    release: db.prepare('RELEASE truce_keyed_ops'),
    rollbackTo: db.prepare('ROLLBACK TO truce_keyed_ops'),
  };

  /** What stands in the way of claiming the key, or undefined when it is free to take. */
  const taken = (r: IdempotencyClaimRequest): Exclude<IdempotencyClaim, { state: 'claimed' }> | undefined => {
    const row = read.get(r.scope, r.key);
    if (row && row.expires_at > r.now) {
      if (row.fingerprint !== r.fingerprint) return { state: 'mismatch' };
      if (row.done === 1) return { state: 'completed', response: toResponse(row) };
      if (row.locked_until > r.now) return { state: 'in-flight', lockedUntil: row.locked_until };
      // The first request's process stopped answering: its claim lapsed, and nothing it did committed.
    }
    return undefined;
  };

  const claim = db.transaction((r: IdempotencyClaimRequest): IdempotencyClaim => {
    const found = taken(r);
    if (found) return found;
    claimRow.run(r.scope, r.key, r.fingerprint, r.now + r.leaseMs, r.expiresAt);
    return { state: 'claimed' };
  });

  const commitKeyed = (
    c: IdempotentCommit,
    apply: (ops: readonly WriteOp[]) => Head[],
  ): IdempotentCommitResult => {
    const r = c.claim;
    const found = taken(r);
    if (found) return found;
    let result: CommitResult;
    sql.savepoint.run();
    try {
      result = { ok: true, heads: apply(c.ops) };
      sql.release.run();
    } catch (error) {
      // SQLite may have rolled the whole transaction back (SQLITE_FULL...): the group commit handles that.
      if (!(error instanceof Refused) || !db.inTransaction) throw error;
      sql.rollbackTo.run();
      sql.release.run();
      result = error.failure;
    }
    const response = c.answer(result);
    if (response !== null) {
      // The row is written done: no other request ever sees this key in flight.
      storeRow.run(
        r.scope,
        r.key,
        r.fingerprint,
        r.now,
        r.expiresAt,
        response.status,
        JSON.stringify(response.headers),
        response.body,
      );
    }
    return { state: 'claimed', result };
  };

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
    commitKeyed,
  };
}

function toResponse(row: KeyRow): StoredResponse {
  return {
    status: row.status ?? 500,
    headers: row.headers ? (JSON.parse(row.headers) as Record<string, string>) : {},
    body: row.body,
  };
}
