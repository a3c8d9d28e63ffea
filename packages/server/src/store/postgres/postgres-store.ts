import { createHash } from 'node:crypto';
import pg from 'pg';
import { findByEtag, newEtag } from '../etag.js';
import { checkOp, Refused } from '../refusal.js';
import {
  type ChangeRecord,
  type CommitResult,
  type Head,
  type IdempotencyClaim,
  type IdempotencyClaimRequest,
  type IdempotencyCompletion,
  type IdempotentCommit,
  type IdempotentCommitResult,
  type IndexEntries,
  type JsonObject,
  type LeaseRequest,
  type LeaseResult,
  type ListOptions,
  type ListPage,
  type Reference,
  type ReindexResult,
  type Store,
  StoreBusyError,
  StoreOutcomeUnknownError,
  isStoreOutcomeUnknownError,
  type StoreCapabilities,
  type StoredResponse,
  type UniqueKey,
  type UniqueKeyHolder,
  type VersionRecord,
  type WriteOp,
} from '../types.js';
import { applyOps, applySimpleOps, entryOf, isSimple } from './commit.js';
import { type GroupCall, GroupCommit } from './group-commit.js';
import { leaseIn } from './leases.js';
import { createList } from './list.js';
import {
  type ChangeRow,
  type HeadRow,
  type HistoryRow,
  escapeNul,
  type Queryable,
  run,
  sqlState,
  type Statement,
  unescapeNul,
  toChangeRecord,
  toHead,
  toVersionRecord,
  type WriteHeadRow,
} from './rows.js';
import { migratePostgres, quoteIdentifier } from './schema.js';
import { createStatements, type Statements } from './statements.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** A libpq connection URL, `postgres://user:password@host:5432/database`. */
  readonly url: string;
  /** The schema holding Truce's tables, created when missing; default `truce`. */
  readonly schema?: string | undefined;
  /** Connections in the pool; default 10. Each in-flight commit holds one. */
  readonly poolSize?: number | undefined;
  /** How often a transaction that lost a deadlock or serialization check is run again; default 8. */
  readonly retries?: number | undefined;
  /** How long a statement waits for a row lock before the request is answered 503; default 10 s. */
  readonly lockTimeoutMs?: number | undefined;
  /** How long to wait for a connection (from the pool or to the server); default 10 s. */
  readonly connectTimeoutMs?: number | undefined;
  /** Group commit (group-commit.ts); every field optional. */
  readonly groupCommit?: GroupCommitSettings | undefined;
}

/** How writes of one process share transactions (group-commit.ts). */
export interface GroupCommitSettings {
  /** How long the first write of a group waits for others; default 0: the current event-loop turn only. */
  readonly windowMs?: number | undefined;
  /** The most writes in one transaction; default 128. */
  readonly maxWrites?: number | undefined;
  /** The most transactions of grouped writes in flight at once; default 2 (at most the pool size). */
  readonly maxGroups?: number | undefined;
}

/** How often a store on tables without statistics looks whether they have them now (#checkPlans). */
const PLANS_CHECK_MS = 2_000;

/** The most heads one read statement asks for (see PostgresStore.get). */
const MAX_READ_BATCH = 500;

/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRYABLE = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);
/** SQLSTATEs that mean "not now": answered 503 with Retry-After, not 500. */
const UNAVAILABLE = new Set([
  '55P03', // lock_not_available (lock_timeout)
  '53300', // too_many_connections
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57014', // query_canceled (statement timeout)
]);

/** True for errors of the connection itself (refused, reset, timed out), not of a statement. */
function isConnectionError(error: unknown): boolean {
  const code = sqlState(error);
  if (code === undefined) {
    const message = (error as Error | null)?.message ?? '';
    return /connect|Connection terminated|timeout/i.test(message);
  }
  return code.startsWith('08') || /^E[A-Z]+$/.test(code);
}

/**
 * Whether an error that ended a statement already sent means its answer was lost: the connection
 * broke, or the server ended the session (pg_terminate_backend, shutdown) instead of answering.
 */
function lostAnswer(error: unknown): boolean {
  const state = sqlState(error);
  if (state === '57P01' || state === '57P02') return true;
  // node-postgres refuses, without sending anything, a statement on a connection already known broken.
  if (/is not queryable/.test((error as Error | null)?.message ?? '')) return false;
  return isConnectionError(error);
}

/** The error for a write sent to PostgreSQL whose answer was lost (see {@link StoreOutcomeUnknownError}). */
function outcomeUnknown(what: string, error: unknown): StoreOutcomeUnknownError {
  return new StoreOutcomeUnknownError(
    `PostgreSQL: the connection broke during ${what}: ${(error as Error).message}`,
    2,
    {
      cause: error,
    },
  );
}

/** A pooled connection taken by {@link checkout}; `checkin` gives it back (destroyed when broken). */
type CheckedOut = pg.PoolClient & { checkin(broken?: Error): void };

/**
 * A pooled connection for statements of the caller's own. A connection that breaks while checked
 * out emits 'error' as well as failing the statement in progress, and the pool listens only to idle
 * connections: without a listener of its own that event would end the process. The failed
 * statement is what reports the break.
 */
async function checkout(pool: pg.Pool): Promise<CheckedOut> {
  const client = (await pool.connect()) as CheckedOut;
  const ignore = () => undefined;
  client.on('error', ignore);
  client.checkin = (broken) => {
    client.off('error', ignore);
    client.release(broken);
  };
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** int8 and numeric counts arrive as numbers: every such value Truce stores is a safe integer. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 && format !== 'binary') return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * The PostgreSQL adapter of {@link Store}, over a `pg` connection pool: the store for several server
 * processes sharing one database (SPEC 2, `storage: postgres://...`).
 *
 * Writes of one process are grouped (group-commit.ts): the commits, leases and idempotency-key
 * steps that arrive together share one READ COMMITTED transaction and one WAL flush, each call's
 * checks made under row locks (commit.ts explains which) and, where it could be refused after
 * writing, inside a savepoint of its own. So it has exactly the semantics of the SQLite adapter,
 * whatever the number of processes. Change sequence numbers are taken by each commit's last
 * statement, and feed readers stop below the lowest one still in flight (feed.ts), so the feed never
 * shows a gap that fills later. Deadlocks are run again with jittered backoff, up to `retries`
 * times; then, as for lock timeouts and an unreachable database, the call rejects with
 * {@link StoreBusyError} (503 `busy`).
 *
 * Durability is PostgreSQL's: a commit resolves after COMMIT returned, which with the default
 * `synchronous_commit = on` means the WAL record is flushed to disk. Nothing acknowledged is lost to
 * a crash of Truce or of PostgreSQL.
 */
export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = Object.freeze({
    name: 'postgres',
    multiProcess: true,
    ephemeral: false,
  });
  readonly #pool: pg.Pool;
  readonly #s: string;
  /** The statements in use: {@link #prepared}, or until the tables have statistics, the replanned set. */
  #st: Statements;
  readonly #prepared: Statements;
  /** When the tables were last looked at for statistics (see #checkPlans); undefined once they had them. */
  #plansCheckedAt: number | undefined;
  readonly #retries: number;
  readonly #list: ReturnType<typeof createList>;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #url: string;
  /** The NOTIFY channel of this schema's commits. */
  readonly #channel: string;
  readonly #listeners = new Set<() => void>();
  readonly #groups: GroupCommit;
  /** Head reads waiting for this turn's statement (see `get`). */
  #gets: {
    readonly collection: string;
    readonly id: string;
    readonly resolve: (head: Head | null) => void;
    readonly reject: (error: unknown) => void;
  }[] = [];
  /** The feed boundary query that callers join, not started yet (see #feedBoundary). */
  #nextBoundary: Promise<number> | undefined;
  /** The one running. */
  #runningBoundary: Promise<number> | undefined;
  #listener: pg.Client | undefined;
  #relisten: NodeJS.Timeout | undefined;
  #closed = false;

  /** Use {@link openPostgresStore}, which also migrates the schema. */
  constructor(
    pool: pg.Pool,
    schema: string,
    retries: number,
    url: string,
    groupCommit: { readonly windowMs: number; readonly maxWrites: number; readonly maxGroups: number } = {
      windowMs: 0,
      maxWrites: 128,
      maxGroups: 1,
    },
  ) {
    this.#pool = pool;
    this.#url = url;
    // Channel names are identifiers (at most 63 bytes): a digest keeps any schema name short and plain.
    this.#channel = `truce_${createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;
    this.#s = quoteIdentifier(schema);
    this.#prepared = createStatements(this.#s, false);
    this.#st = createStatements(this.#s, true);
    this.#plansCheckedAt = -Infinity;
    this.#retries = retries;
    this.#list = createList(this.#s);
    this.#groups = new GroupCommit({
      windowMs: groupCommit.windowMs,
      maxCalls: groupCommit.maxWrites,
      maxGroups: groupCommit.maxGroups,
      transaction: (fn) => this.#transaction(fn),
      applySimple: (db, ops) => applySimpleOps(db, this.#st, ops, this.#channel),
    });
  }

  /**
   * Moves to prepared plans for every statement once `heads` and `changes` have statistics
   * (statements.ts, REPLANNED): looks at most every {@link PLANS_CHECK_MS}, on the pool, without
   * holding up the caller.
   */
  #checkPlans(): void {
    const at = this.#plansCheckedAt;
    if (at === undefined || performance.now() - at < PLANS_CHECK_MS) return;
    this.#plansCheckedAt = performance.now();
    const tables = [`${this.#s}.heads`, `${this.#s}.changes`];
    this.#read<{ analyzed: boolean }>(this.#st.analyzed, tables).then(
      ([row]) => {
        if (row?.analyzed !== true || this.#plansCheckedAt === undefined) return;
        this.#plansCheckedAt = undefined;
        this.#st = this.#prepared;
      },
      () => undefined, // looked at again later
    );
  }

  /** Queues `call` for the next group (group-commit.ts); settles after its COMMIT. */
  #grouped<T>(call: GroupCall<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('The store is closed.'));
    this.#checkPlans();
    // A lock timeout of one call fails that call alone, as busy too.
    return this.#track(
      this.#groups.submit(call).catch((error: unknown) => {
        if (error instanceof StoreBusyError || isStoreOutcomeUnknownError(error)) throw error;
        throw unavailable(error) ?? error;
      }),
    );
  }

  /**
   * See {@link Store.get}. The reads of one event-loop turn share one statement (`#readHeads`): a
   * read sent a little later than asked sees everything committed before it was asked, and more.
   */
  get(collection: string, id: string): Promise<Head | null> {
    if (this.#closed) return Promise.reject(new Error('The store is closed.'));
    this.#checkPlans();
    return this.#track(
      new Promise<Head | null>((resolve, reject) => {
        this.#gets.push({ collection, id, resolve, reject });
        if (this.#gets.length === 1) setImmediate(() => void this.#readHeads());
      }),
    );
  }

  /** Reads the heads asked for since the last turn, at most {@link MAX_READ_BATCH} per statement. */
  async #readHeads(): Promise<void> {
    const asked = this.#gets;
    this.#gets = [];
    for (let from = 0; from < asked.length; from += MAX_READ_BATCH) {
      const batch = asked.slice(from, from + MAX_READ_BATCH);
      try {
        const rows =
          batch.length === 1
            ? await this.#read<HeadRow>(this.#st.getHead, [batch[0]!.collection, batch[0]!.id])
            : await this.#read<HeadRow>(this.#st.getHeads, [
                batch.map((g) => g.collection),
                batch.map((g) => g.id),
              ]);
        const found = new Map(rows.map((row) => [resourceKey(row.collection, row.id), row]));
        for (const g of batch) {
          const row = found.get(resourceKey(g.collection, g.id));
          g.resolve(row === undefined ? null : toHead(row));
        }
      } catch (error) {
        for (const g of batch) g.reject(error);
      }
    }
  }

  /**
   * See {@link Store.commit}: one call of a group (group-commit.ts). A simple write (one op, a
   * whole document or an increment, checked by version and lease only: the common PUT, PATCH and
   * `_increment`) is batched with the group's other simple writes (commit.ts, applySimpleOps); a
   * plain create is one statement (`#plainCreate`); anything else runs the general path of
   * commit.ts, inside a savepoint when it could be refused after writing.
   */
  async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    const [only] = ops;
    const keys = ops.map((op) => resourceKey(op.collection, op.id));
    if (ops.length === 1 && only !== undefined && isSimple(only)) {
      return this.#grouped<CommitResult>({ keys, simple: only });
    }
    if (ops.length === 1 && only !== undefined && isPlainCreate(only)) {
      checkOp(only, 0);
      return this.#grouped({ keys, savepoint: false, run: (db) => this.#plainCreate(db, only) });
    }
    return this.#grouped({
      keys,
      savepoint: mayWriteBeforeRefusing(ops),
      run: async (db): Promise<CommitResult> => ({
        ok: true,
        heads: await applyOps(db, this.#st, ops, this.#channel),
      }),
    });
  }

  /**
   * A create, with the unique keys it claims, in one round trip (statements.ts, `plainCreate`): the
   * head's row lock, the keys, the lease and version checks, the seq, the change and the head all
   * happen inside PostgreSQL. It writes nothing unless it succeeds, but for keys it claimed before
   * another one was found taken, which it deletes again; so it needs no savepoint in its group.
   */
  async #plainCreate(db: Queryable, op: WriteOp & { readonly doc: JsonObject }): Promise<CommitResult> {
    const etag = op.etag ?? newEtag(1);
    const json = JSON.stringify(op.doc);
    const at = op.at ?? Date.now();
    const keys = op.uniqueKeys ?? [];
    const values = [
      op.collection,
      op.id,
      0,
      at,
      etag,
      json,
      op.actor,
      op.keepHistory,
      this.#channel,
      op.lock?.now ?? null,
      op.lock?.token ?? null,
      keys.map((k) => k.constraint),
      keys.map((k) => k.key),
    ];
    const mismatch = (current: Head | null): CommitResult => ({
      ok: false,
      index: 0,
      reason: 'version-mismatch',
      current,
    });
    const [row] = await run<PlainRow>(db, this.#st.plainCreate, values);
    if (row === undefined) return mismatch(null);
    if (!row.written && row.claimed_keys.length > 0) {
      await run(db, this.#st.deleteUniqueKeys, [
        op.collection,
        op.id,
        row.claimed_constraints,
        row.claimed_keys,
      ]);
    }
    // Someone else's lease refuses the write whatever version it was based on (SPEC 3.9).
    if (row.locked) {
      return {
        ok: false,
        index: 0,
        reason: 'locked',
        owner: row.locked_owner,
        expiresAt: row.locked_until!,
      };
    }
    if (!row.written && row.version !== null) return mismatch(toHead(row));
    if (
      !row.written &&
      row.claimed_keys.length < new Set(keys.map((k) => entryOf(k.constraint, k.key))).size
    ) {
      // The first key, in the order given, that another resource holds.
      const mine = new Set(row.claimed_keys.map((k, i) => entryOf(row.claimed_constraints[i]!, k)));
      for (const { constraint, key } of keys) {
        if (mine.has(entryOf(constraint, key))) continue;
        const [holder] = await run<{ id: string }>(db, this.#st.uniqueKeyHolder, [
          op.collection,
          constraint,
          key,
        ]);
        if (holder !== undefined)
          return { ok: false, index: 0, reason: 'unique-violation', constraint, key, holder: holder.id };
      }
      // Every holder let go of its key meanwhile: the general path claims them again, in a savepoint.
      return this.#inSavepoint(db, [op]);
    }
    if (!row.written) {
      // Another creator of the same URL committed while this one waited for it: report its head.
      const [taken] = await run<HeadRow>(db, this.#st.getHead, [op.collection, op.id]);
      return mismatch(taken === undefined ? null : toHead(taken));
    }
    return {
      ok: true,
      heads: [
        {
          collection: op.collection,
          id: op.id,
          version: 1,
          etag,
          deleted: false,
          doc: JSON.parse(json) as JsonObject,
          createdAt: at,
          updatedAt: at,
          updatedBy: op.actor,
        },
      ],
    };
  }

  /** `ops` on the general path (commit.ts) inside a savepoint of their own, for a call that has none. */
  async #inSavepoint(db: Queryable, ops: readonly WriteOp[]): Promise<CommitResult> {
    await db.query('SAVEPOINT truce_retry');
    try {
      const heads = await applyOps(db, this.#st, ops, this.#channel);
      await db.query('RELEASE SAVEPOINT truce_retry');
      return { ok: true, heads };
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      await db.query('ROLLBACK TO SAVEPOINT truce_retry');
      await db.query('RELEASE SAVEPOINT truce_retry');
      return error.failure;
    }
  }

  /**
   * See {@link Store.lease}: one call of a group, ordered with commits by the head's row lock. It
   * refuses before it writes, so it needs no savepoint.
   */
  async lease(collection: string, id: string, request: LeaseRequest): Promise<LeaseResult> {
    return this.#grouped({
      keys: [resourceKey(collection, id)],
      savepoint: false,
      run: (db) => leaseIn(db, this.#s, collection, id, request),
    });
  }

  /** See {@link Store.list}. */
  async list(collection: string, options: ListOptions): Promise<ListPage> {
    return this.#track(this.#retry(() => this.#list(this.#pool, collection, options)));
  }

  /** See {@link Store.history}. */
  async history(
    collection: string,
    id: string,
    options: { readonly limit: number; readonly before?: number | undefined },
  ): Promise<readonly VersionRecord[]> {
    const before = Math.min(options.before ?? 2 ** 31 - 1, 2 ** 31 - 1);
    const limit = Math.min(options.limit, 2 ** 31 - 1);
    const rows = await this.#read<HistoryRow>(this.#st.history, [collection, id, before, limit]);
    return rows.map(toVersionRecord);
  }

  /** See {@link Store.version}. */
  async version(collection: string, id: string, version: number): Promise<VersionRecord | null> {
    if (!Number.isSafeInteger(version) || version < 1 || version >= 2 ** 31) return null;
    const [row] = await this.#read<HistoryRow>(this.#st.version, [collection, id, version]);
    return row === undefined ? null : toVersionRecord(row);
  }

  /** See {@link Store.versionByEtag}. */
  async versionByEtag(collection: string, id: string, etag: string): Promise<VersionRecord | null> {
    return findByEtag(
      etag,
      (version) => this.version(collection, id, version),
      async () => {
        const [row] = await this.#read<HistoryRow>(this.#st.versionByEtag, [collection, id, etag]);
        return row === undefined ? null : toVersionRecord(row);
      },
    );
  }

  /** See {@link Store.changes}. */
  async changes(options: {
    readonly since: number;
    readonly limit: number;
    readonly collection?: string | undefined;
  }): Promise<readonly ChangeRecord[]> {
    const boundary = await this.#feedBoundary();
    if (boundary <= options.since) return [];
    const rows =
      options.collection === undefined
        ? await this.#read<ChangeRow>(this.#st.changes, [options.since, options.limit, boundary])
        : await this.#read<ChangeRow>(this.#st.changesOf, [
            options.collection,
            options.since,
            options.limit,
            boundary,
          ]);
    return rows.map(toChangeRecord);
  }

  /**
   * The feed's boundary (feed.ts), computed after this call began. Concurrent callers share one
   * query: those arriving while one runs join the next, which starts when it ends.
   */
  #feedBoundary(): Promise<number> {
    if (this.#nextBoundary !== undefined) return this.#nextBoundary;
    const previous = this.#runningBoundary;
    const query = async (): Promise<number> => {
      await previous?.catch(() => undefined);
      this.#nextBoundary = undefined;
      this.#runningBoundary = next;
      try {
        const [row] = await this.#read<{ seq: number | null }>(this.#st.feedBoundary, []);
        return row?.seq ?? 0;
      } finally {
        if (this.#runningBoundary === next) this.#runningBoundary = undefined;
      }
    };
    // Started on the next microtask, so that `next` is assigned before the query reads it.
    const next: Promise<number> = Promise.resolve().then(query);
    this.#nextBoundary = next;
    return next;
  }

  /** See {@link Store.feedFloor}. */
  async feedFloor(): Promise<number> {
    const [row] = await this.#read<{ seq: number }>(this.#st.feedFloor, []);
    return row?.seq ?? 0;
  }

  /** See {@link Store.pruneChanges}: raises the floor and prunes in one transaction. */
  async pruneChanges(upTo: number, limit: number): Promise<number> {
    return this.#transaction(async (db) => {
      await run(db, this.#st.raiseFloor, [upTo]);
      const result = await db.query({
        name: this.#st.prune.name,
        text: this.#st.prune.text,
        values: [upTo, limit],
      });
      return result.rowCount ?? 0;
    });
  }

  /** See {@link Store.lastSeq}: the feed's boundary (feed.ts), the highest seq a reader may see now. */
  async lastSeq(): Promise<number> {
    return this.#feedBoundary();
  }

  /**
   * See {@link Store.claimIdempotencyKey}. A fresh key is claimed by inserting it; the primary key
   * makes a second claimer wait for the first and then find the row, which it reads under a row
   * lock before deciding (taking over an expired or lapsed claim is an update under that lock).
   */
  async claimIdempotencyKey(request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    return this.#grouped({
      keys: [idempotencyKey(request.scope, request.key)],
      savepoint: false,
      run: (db) => this.#claimIn(db, request),
    });
  }

  /**
   * See {@link Store.commitIdempotent}: the claim of {@link claimIdempotencyKey}, the ops of
   * {@link commit} in a savepoint (a refusal undoes them, not the claim) and the completion, in one
   * transaction. The key's row, inserted first, makes a request with the same key wait for this
   * transaction and then find the answer.
   */
  async commitIdempotent(c: IdempotentCommit): Promise<IdempotentCommitResult> {
    const s = this.#s;
    const keys = [
      idempotencyKey(c.claim.scope, c.claim.key),
      ...c.ops.map((op) => resourceKey(op.collection, op.id)),
    ];
    return this.#grouped({
      keys,
      savepoint: true,
      run: (db) => this.#commitIdempotentIn(db, s, c),
    });
  }

  async #commitIdempotentIn(db: Queryable, s: string, c: IdempotentCommit): Promise<IdempotentCommitResult> {
    const claim = await this.#claimIn(db, c.claim);
    if (claim.state !== 'claimed') return claim;
    let result: CommitResult;
    await db.query('SAVEPOINT truce_keyed_ops');
    try {
      result = { ok: true, heads: await applyOps(db, this.#st, c.ops, this.#channel) };
      await db.query('RELEASE SAVEPOINT truce_keyed_ops');
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      await db.query('ROLLBACK TO SAVEPOINT truce_keyed_ops');
      result = error.failure;
    }
    const response = c.answer(result);
    const scope = escapeNul(c.claim.scope);
    const key = escapeNul(c.claim.key);
    if (response === null) {
      await db.query({
        name: 'truce_idem_release',
        text: `DELETE FROM ${s}.idempotency_keys WHERE scope = $1 AND "key" = $2 AND NOT done`,
        values: [scope, key],
      });
    } else {
      await run(db, this.#st.completeIdempotency, [
        scope,
        key,
        response.status,
        JSON.stringify(response.headers),
        response.body === null ? null : escapeNul(response.body),
      ]);
    }
    return { state: 'claimed', result };
  }

  /** Claims a key inside the caller's transaction (see {@link claimIdempotencyKey}). */
  async #claimIn(db: Queryable, request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    const s = this.#s;
    const r = { ...request, scope: escapeNul(request.scope), key: escapeNul(request.key) };
    const inserted = await db.query({
      name: 'truce_idem_insert',
      text: `INSERT INTO ${s}.idempotency_keys (scope, "key", fingerprint, done, locked_until, expires_at)
        VALUES ($1, $2, $3, false, $4, $5) ON CONFLICT DO NOTHING RETURNING 1 AS one`,
      values: [r.scope, r.key, r.fingerprint, r.now + r.leaseMs, r.expiresAt],
    });
    if (inserted.rows.length === 1) return { state: 'claimed' };
    const found = await db.query<KeyRow>({
      name: 'truce_idem_lock',
      text: `SELECT fingerprint, done, locked_until, expires_at, status, headers, body
        FROM ${s}.idempotency_keys WHERE scope = $1 AND "key" = $2 FOR UPDATE`,
      values: [r.scope, r.key],
    });
    const row = found.rows[0];
    if (row && row.expires_at > r.now) {
      if (row.fingerprint !== r.fingerprint) return { state: 'mismatch' };
      if (row.done) return { state: 'completed', response: toResponse(row) };
      if (row.locked_until > r.now) return { state: 'in-flight', lockedUntil: row.locked_until };
      // The first request's process stopped answering: its claim lapsed, and nothing it did committed.
    }
    await db.query({
      name: 'truce_idem_take',
      text: `INSERT INTO ${s}.idempotency_keys (scope, "key", fingerprint, done, locked_until, expires_at)
        VALUES ($1, $2, $3, false, $4, $5)
        ON CONFLICT (scope, "key") DO UPDATE SET fingerprint = excluded.fingerprint, done = false,
          locked_until = excluded.locked_until, expires_at = excluded.expires_at,
          status = NULL, headers = NULL, body = NULL`,
      values: [r.scope, r.key, r.fingerprint, r.now + r.leaseMs, r.expiresAt],
    });
    return { state: 'claimed' };
  }

  /** See {@link Store.completeIdempotencyKey}. */
  async completeIdempotencyKey(c: IdempotencyCompletion): Promise<void> {
    const r = c.response;
    await this.#grouped({
      keys: [idempotencyKey(c.scope, c.key)],
      savepoint: false,
      run: (db) =>
        run(db, this.#st.completeIdempotency, [
          escapeNul(c.scope),
          escapeNul(c.key),
          r.status,
          JSON.stringify(r.headers),
          r.body === null ? null : escapeNul(r.body),
        ]),
    });
  }

  /** See {@link Store.releaseIdempotencyKey}. */
  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    await this.#grouped({
      keys: [idempotencyKey(scope, key)],
      savepoint: false,
      run: (db) =>
        db.query({
          name: 'truce_idem_release',
          text: `DELETE FROM ${this.#s}.idempotency_keys WHERE scope = $1 AND "key" = $2 AND NOT done`,
          values: [escapeNul(scope), escapeNul(key)],
        }),
    });
  }

  /** See {@link Store.purgeIdempotencyKeys}. */
  async purgeIdempotencyKeys(now: number, limit: number): Promise<number> {
    const s = this.#s;
    return this.#transaction(async (db) => {
      const result = await db.query({
        name: 'truce_idem_purge',
        text: `DELETE FROM ${s}.idempotency_keys WHERE (scope, "key") IN (
            SELECT scope, "key" FROM ${s}.idempotency_keys WHERE expires_at <= $1 LIMIT $2
            FOR UPDATE SKIP LOCKED)`,
        values: [now, limit],
      });
      return result.rowCount ?? 0;
    });
  }

  /** See {@link Store.uniqueKeyHolders}: one primary key lookup per key (a write holds a handful). */
  async uniqueKeyHolders(
    collection: string,
    keys: readonly UniqueKey[],
  ): Promise<readonly UniqueKeyHolder[]> {
    const holders: UniqueKeyHolder[] = [];
    for (const { constraint, key } of keys) {
      const [row] = await this.#read<{ id: string }>(this.#st.uniqueKeyHolder, [collection, constraint, key]);
      if (row !== undefined) holders.push({ constraint, key, holder: row.id });
    }
    return holders;
  }

  /** See {@link Store.indexFingerprint}. */
  async indexFingerprint(collection: string): Promise<string | null> {
    const result = await this.#track(
      this.#retry(() =>
        this.#pool.query<{ fingerprint: string }>(
          `SELECT fingerprint FROM ${this.#s}.index_state WHERE collection = $1`,
          [collection],
        ),
      ),
    );
    return result.rows[0]?.fingerprint ?? null;
  }

  /**
   * See {@link Store.reindex}. One transaction that locks out writers of `heads` (readers go on),
   * under an advisory lock per collection so that processes starting together do the work once.
   */
  async reindex(
    collection: string,
    fingerprint: string,
    compute: (id: string, doc: JsonObject) => IndexEntries,
  ): Promise<ReindexResult> {
    const s = this.#s;
    return this.#transaction(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `truce:reindex:${this.#s}:${collection}`,
      ]);
      await db.query(`LOCK TABLE ${s}.heads IN EXCLUSIVE MODE`);
      const saved = await db.query<{ fingerprint: string }>(
        `SELECT fingerprint FROM ${s}.index_state WHERE collection = $1`,
        [collection],
      );
      if (saved.rows[0]?.fingerprint === fingerprint) return { ok: true, resources: 0 };
      const docs = await db.query<{ id: string; doc: string }>(
        `SELECT id, doc FROM ${s}.heads WHERE collection = $1 AND NOT deleted AND version > 0 ORDER BY id`,
        [collection],
      );
      const holders = new Map<string, { constraint: string; key: string; ids: string[] }>();
      const wanted: { id: string; reference: Reference }[] = [];
      const keys: { id: string; constraint: string; key: string }[] = [];
      for (const row of docs.rows) {
        const computed = compute(row.id, JSON.parse(row.doc) as JsonObject);
        for (const k of computed.uniqueKeys) {
          keys.push({ id: row.id, constraint: k.constraint, key: k.key });
          const at = `${k.constraint}\u0000${k.key}`;
          const holder = holders.get(at);
          if (holder) holder.ids.push(row.id);
          else holders.set(at, { constraint: k.constraint, key: k.key, ids: [row.id] });
        }
        for (const reference of computed.references) wanted.push({ id: row.id, reference });
      }
      const outside = wanted.filter(
        (w) => !(w.reference.collection === collection && w.reference.id === w.id),
      );
      const live = new Set<string>();
      if (outside.length > 0) {
        const targets = await db.query<{ collection: string; id: string }>(
          `SELECT collection, id FROM ${s}.heads WHERE NOT deleted AND version > 0
             AND (collection, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
          [outside.map((w) => w.reference.collection), outside.map((w) => w.reference.id)],
        );
        for (const t of targets.rows) live.add(`${t.collection}\u0000${t.id}`);
      }
      const dangling = outside.filter((w) => !live.has(`${w.reference.collection}\u0000${w.reference.id}`));
      const collisions = [...holders.values()].filter((h) => h.ids.length > 1);
      if (collisions.length > 0 || dangling.length > 0) {
        return { ok: false, collisions: collisions.slice(0, 20), dangling: dangling.slice(0, 20) };
      }
      await db.query(`DELETE FROM ${s}.unique_keys WHERE collection = $1`, [collection]);
      await db.query(`DELETE FROM ${s}.refs WHERE from_collection = $1`, [collection]);
      await db.query(
        `INSERT INTO ${s}.unique_keys (collection, "constraint", "key", id)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])`,
        [collection, keys.map((k) => k.constraint), keys.map((k) => k.key), keys.map((k) => k.id)],
      );
      await db.query(
        `INSERT INTO ${s}.refs (from_collection, from_id, pointer, to_collection, to_id)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (from_collection, from_id, pointer) DO UPDATE SET
           to_collection = excluded.to_collection, to_id = excluded.to_id`,
        [
          collection,
          wanted.map((w) => w.id),
          wanted.map((w) => w.reference.pointer),
          wanted.map((w) => w.reference.collection),
          wanted.map((w) => w.reference.id),
        ],
      );
      await db.query(
        `INSERT INTO ${s}.index_state (collection, fingerprint) VALUES ($1, $2)
         ON CONFLICT (collection) DO UPDATE SET fingerprint = excluded.fingerprint`,
        [collection, fingerprint],
      );
      return { ok: true, resources: docs.rows.length };
    });
  }

  /**
   * See {@link Store.watchCommits}. Every commit sends a NOTIFY on this schema's channel (delivered
   * when it commits); the first subscriber opens one connection that LISTENs, outside the pool. If
   * that connection breaks it is opened again a second later, and subscribers are called once then,
   * since commits may have gone unheard meanwhile (feeds also poll, so none is lost).
   */
  watchCommits(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (this.#listener === undefined && this.#relisten === undefined) void this.#listen();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#unlisten();
    };
  }

  async #listen(): Promise<void> {
    if (this.#closed || this.#listeners.size === 0) return;
    const client = new pg.Client({ connectionString: this.#url, application_name: 'truce-listen' });
    this.#listener = client;
    const retry = () => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      client.end().catch(() => undefined);
      if (this.#closed || this.#listeners.size === 0) return;
      this.#relisten = setTimeout(() => {
        this.#relisten = undefined;
        void this.#listen().then(() => this.#wake());
      }, 1000);
      this.#relisten.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', () => this.#wake());
    try {
      await client.connect();
      await client.query(`LISTEN ${this.#channel}`);
    } catch {
      retry();
    }
  }

  #wake(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  #unlisten(): void {
    clearTimeout(this.#relisten);
    this.#relisten = undefined;
    const client = this.#listener;
    this.#listener = undefined;
    client?.end().catch(() => undefined);
  }

  /** See {@link Store.ping}. */
  async ping(): Promise<void> {
    if (this.#closed) throw new Error('The store is closed.');
    await this.#pool.query('SELECT 1');
  }

  /** See {@link Store.close}: waits for calls in flight, then closes the pool; twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#unlisten();
    await Promise.allSettled([...this.#inFlight]);
    await this.#pool.end();
  }

  /** A read on any pooled connection (READ COMMITTED: it sees everything committed before it). */
  #read<R extends pg.QueryResultRow>(statement: Statement, values: unknown[]) {
    return this.#track(this.#retry(() => run<R>(this.#pool, statement, values)));
  }

  /** Runs a read again once after a dropped connection; maps unavailability to StoreBusyError. */
  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('The store is closed.');
    try {
      return await fn();
    } catch (error) {
      if (!isConnectionError(error)) throw unavailable(error) ?? error;
      try {
        return await fn();
      } catch (again) {
        throw unavailable(again) ?? again;
      }
    }
  }

  /**
   * Runs `fn` in a transaction on one pooled connection, again (after a jittered pause) when
   * PostgreSQL aborted it for a deadlock or a serialization failure, up to the retry budget.
   * `Refused` and other errors roll back and propagate.
   */
  #transaction<T>(fn: (db: Queryable) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('The store is closed.'));
    return this.#track(
      this.#retrying(async () => {
        const client = await checkout(this.#pool);
        let broken: Error | undefined;
        let committing = false;
        try {
          await client.query('BEGIN');
          const result = await fn(client);
          committing = true;
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch((e: Error) => (broken = e));
          if (isConnectionError(error)) broken = error as Error;
          // Before COMMIT a broken connection rolls the transaction back; during it, no one can say.
          if (committing && lostAnswer(error)) throw outcomeUnknown('COMMIT', error);
          throw error;
        } finally {
          client.checkin(broken);
        }
      }),
    );
  }

  /**
   * Runs `attempt` again (after a jittered pause) when PostgreSQL aborted it for a deadlock or a
   * serialization failure, up to the retry budget, then gives up with StoreBusyError. A refusal
   * passes through as it is; an unavailable database becomes StoreBusyError too.
   */
  async #retrying<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof Refused || isStoreOutcomeUnknownError(error)) throw error;
        const state = sqlState(error);
        if (state === undefined || !RETRYABLE.has(state)) throw unavailable(error) ?? error;
        if (n >= this.#retries) throw new StoreBusyError('transactions kept colliding', 1, { cause: error });
        // Full jitter over an exponential ceiling: 2, 4, 8 ... 256 ms.
        await sleep(Math.random() * 2 ** Math.min(n + 1, 8));
      }
    }
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    const forget = () => this.#inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }
}

/** What the one-statement create answers (statements.ts, `plainCreate`). */
type PlainRow = WriteHeadRow & {
  written: boolean;
  claimed_constraints: string[];
  claimed_keys: string[];
  locked: boolean;
  locked_owner: string | null;
  locked_until: number | null;
};

/**
 * A create the one-statement path takes: a whole new document at a URL expected empty, with unique
 * keys or not, nothing else (references and idempotency completions take the general path).
 */
function isPlainCreate(op: WriteOp): op is WriteOp & { readonly doc: JsonObject } {
  return (
    op.doc !== null &&
    op.expectVersion === 0 &&
    op.increment === undefined &&
    op.references === undefined &&
    op.idempotency === undefined
  );
}

/** A resource as a group-commit key (group-commit.ts). */
function resourceKey(collection: string, id: string): string {
  return `r${collection.length}:${collection}/${id}`;
}

/** An idempotency key as a group-commit key. */
function idempotencyKey(scope: string, key: string): string {
  return `i${scope.length}:${scope}/${key}`;
}

/**
 * Whether a commit of `ops` may be refused after it wrote something (commit.ts): more than one op,
 * unique keys claimed before a later check, references, or a create (its placeholder head). Only
 * then does it need a savepoint of its own in its group.
 */
function mayWriteBeforeRefusing(ops: readonly WriteOp[]): boolean {
  if (ops.length !== 1) return true;
  const [op] = ops;
  return op!.uniqueKeys !== undefined || op!.references !== undefined || op!.expectVersion === 0;
}

/** The StoreBusyError for a database that does not answer or will not wait; undefined otherwise. */
function unavailable(error: unknown): StoreBusyError | undefined {
  const state = sqlState(error);
  if ((state !== undefined && UNAVAILABLE.has(state)) || isConnectionError(error)) {
    return new StoreBusyError(`PostgreSQL: ${(error as Error).message}`, 2, { cause: error });
  }
  return undefined;
}

interface KeyRow {
  fingerprint: string;
  done: boolean;
  locked_until: number;
  expires_at: number;
  status: number | null;
  headers: string | null;
  body: string | null;
}

function toResponse(row: KeyRow): StoredResponse {
  return {
    status: row.status ?? 500,
    headers: row.headers ? (JSON.parse(row.headers) as Record<string, string>) : {},
    body: row.body === null ? null : unescapeNul(row.body),
  };
}

/**
 * Connects to PostgreSQL, creates the schema when missing and migrates it (safe when several
 * processes start at once), and returns the store.
 *
 * @example
 * const store = await openPostgresStore({ url: 'postgres://truce@db:5432/truce', poolSize: 20 });
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = options.schema ?? 'truce';
  quoteIdentifier(schema);
  const poolSize = options.poolSize ?? 10;
  if (!Number.isSafeInteger(poolSize) || poolSize < 1)
    throw new RangeError('poolSize must be a positive integer.');
  const pool = new pg.Pool({
    connectionString: options.url,
    max: poolSize,
    types,
    application_name: 'truce',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    lock_timeout: options.lockTimeoutMs ?? 10_000,
    // A process that stalls inside a transaction must not keep its row locks for ever.
    idle_in_transaction_session_timeout: 60_000,
  });
  // An idle connection that breaks (the server restarted) is dropped from the pool; the next
  // request opens a new one. Without a listener, the error would end the process.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    try {
      await migratePostgres(client, schema);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  const group = options.groupCommit ?? {};
  return new PostgresStore(pool, schema, options.retries ?? 8, options.url, {
    windowMs: group.windowMs ?? 0,
    maxWrites: group.maxWrites ?? 128,
    maxGroups: Math.min(group.maxGroups ?? 2, poolSize),
  });
}
