import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  ChangeRecord,
  CommitResult,
  Head,
  ListOptions,
  ListPage,
  Store,
  StoreCapabilities,
  VersionRecord,
  WriteOp,
  IdempotencyClaim,
  IdempotencyClaimRequest,
  IdempotencyCompletion,
  IdempotentCommit,
  IdempotentCommitResult,
  IndexEntries,
  JsonObject,
  ReindexResult,
  LeaseRequest,
  LeaseResult,
  UniqueKey,
  UniqueKeyHolder,
} from '../types.js';
import { findByEtag } from '../etag.js';
import { Checkpointer } from './checkpointer.js';
import { createApply } from './commit.js';
import { createIdempotency, type SqliteIdempotency } from './idempotency.js';
import { createLeases, type Leases } from './leases.js';
import { createReindex, type SqliteReindex } from './reindex.js';
import { createFeedRetention, type SqliteFeedRetention } from './feed-retention.js';
import { GroupCommit } from './group-commit.js';
import { createList } from './list.js';
import { migrate } from './schema.js';
import { type Statements, prepareStatements, toChangeRecord, toHead, toVersionRecord } from './statements.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** A file path (parent folders are created), or `':memory:'` for a store that lives and dies with the process. */
  readonly path: string;
  /**
   * `'normal'` (default): WAL with `synchronous=NORMAL`. A committed write survives the process being
   * killed at any moment (it is in the WAL file, which the OS keeps), but the last transactions
   * before a power loss or OS crash may be lost; the database itself stays consistent.
   * `'strict'`: `synchronous=FULL`, the WAL is fsynced at every commit, so a committed write also
   * survives power loss, at the price of one fsync per transaction (one per group of commits).
   */
  readonly durability?: 'normal' | 'strict' | undefined;
  /** How long a writer waits for another connection's write lock before failing; default 5000 ms. */
  readonly busyTimeoutMs?: number | undefined;
}

/** Page cache of the connection, in KiB. */
const CACHE_KIB = 16 * 1024;

/** The pragmas {@link SqliteStore.pragma} may read, for diagnostics and tests. */
export type SqlitePragma = 'journal_mode' | 'synchronous' | 'busy_timeout' | 'user_version';

/**
 * The SQLite adapter of {@link Store}, over better-sqlite3.
 *
 * better-sqlite3 is synchronous: every read does its work before returning and the promise it
 * returns is already settled. Commits are queued and committed in groups, one transaction per turn
 * of the event loop (group-commit.ts), so in one process they never interleave; between processes
 * (or several connections to one file) SQLite's write lock serialises them, and the busy timeout
 * makes a writer wait for that lock instead of failing. WAL checkpoints run in a worker thread
 * (checkpointer.ts).
 *
 * Durability, which SPEC 3.12 asks the docs to state. A call to `commit` resolves only after the
 * COMMIT of its transaction has returned. In WAL mode COMMIT appends the transaction to the -wal
 * file with write(2):
 * - `synchronous=NORMAL` (durability `'normal'`, the default): no fsync at COMMIT. The pages are in
 *   the operating system's cache, which outlives the process, so an acknowledged write survives
 *   the process being killed at any moment (kill -9, crash) and is found in the WAL on the next
 *   open. A power loss or OS crash may lose the last transactions acknowledged before it (those not
 *   yet fsynced by a checkpoint or by the OS's own writeback), never the consistency of the file:
 *   the WAL is fsynced before any checkpoint copies it into the database, and the database after.
 * - `synchronous=FULL` (durability `'strict'`): COMMIT also fsyncs the WAL before returning, so an
 *   acknowledged write survives power loss too. Group commit pays that fsync once per group.
 */
export class SqliteStore implements Store {
  /** What this store can do: shared by processes when it is a file, lost on close when in memory. */
  readonly capabilities: StoreCapabilities;
  readonly #db: Database.Database;
  readonly #st: Statements;
  readonly #writes: GroupCommit;
  readonly #checkpointer: Checkpointer | undefined;
  readonly #list: (collection: string, options: ListOptions) => ListPage;
  readonly #idempotency: SqliteIdempotency;
  readonly #reindex: SqliteReindex;
  readonly #feed: SqliteFeedRetention;
  readonly #leases: Leases;
  readonly #apply: (ops: readonly WriteOp[]) => Head[];

  /** Opens (creating when needed) and migrates the database; prefer {@link openSqliteStore}. */
  constructor(options: SqliteStoreOptions) {
    const memory = options.path === ':memory:' || options.path === '';
    if (!memory) mkdirSync(dirname(options.path), { recursive: true });
    const db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
    const synchronous: 'NORMAL' | 'FULL' = options.durability === 'strict' ? 'FULL' : 'NORMAL';
    try {
      // WAL lets readers proceed during a write and makes a commit one append to the log. It is a
      // property of the file, a no-op when another process already set it; memory databases have none.
      if (!memory && db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
        // SQLite keeps the old mode where WAL cannot work (e.g. some network file systems); the
        // durability and multi-process guarantees above rely on WAL, so refuse rather than degrade.
        throw new Error(`SQLite could not switch ${options.path} to WAL mode.`);
      }
      db.pragma(`synchronous = ${synchronous}`);
      // 16 MiB of page cache (SQLite's own default is 2 MiB; better-sqlite3 builds it with 16, said
      // here so that it does not hang on the build), so that the heads in use, the recent end of the
      // change feed and the pages a history walk visits stay in memory instead of being read again
      // from the OS. It counts in the server's RSS (SPEC 7 B5; docs/operations.md, Memory).
      db.pragma(`cache_size = ${-CACHE_KIB}`);
      migrate(db);
      this.#st = prepareStatements(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.#db = db;
    const checkpointer = memory
      ? undefined
      : new Checkpointer(db, {
          path: options.path,
          synchronous,
          pause: () => this.#writes.pause(),
          resume: () => this.#writes.resume(),
        });
    this.#checkpointer = checkpointer;
    this.#idempotency = createIdempotency(db);
    this.#reindex = createReindex(db);
    this.#feed = createFeedRetention(db);
    this.#leases = createLeases(db);
    this.#apply = createApply(this.#st, {
      completeIdempotency: this.#idempotency.complete,
      leases: this.#leases,
    });
    this.#writes = new GroupCommit(db, {
      apply: this.#apply,
      onCommit: checkpointer && (() => checkpointer.noteCommit()),
    });
    this.#list = createList(db);
    this.capabilities = Object.freeze({ name: 'sqlite', multiProcess: !memory, ephemeral: memory });
  }

  /** See {@link Store.get}. */
  async get(collection: string, id: string): Promise<Head | null> {
    const row = this.#st.getHead.get(collection, id);
    return row === undefined ? null : toHead(row);
  }

  /**
   * See {@link Store.commit}. The call is queued and committed with the other calls of this turn of
   * the event loop (group-commit.ts); `ops` are read then, so they must not change meanwhile.
   */
  async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    return this.#writes.commit(ops);
  }

  /**
   * See {@link Store.lease}. Runs at once in its own IMMEDIATE transaction (leases.ts), between two
   * groups of commits, never inside one: what it decides is seen by every later commit's lease check.
   */
  async lease(collection: string, id: string, request: LeaseRequest): Promise<LeaseResult> {
    return this.#leases.lease(collection, id, request);
  }

  /** See {@link Store.list}. */
  async list(collection: string, options: ListOptions): Promise<ListPage> {
    return this.#list(collection, options);
  }

  /** See {@link Store.history}. */
  async history(
    collection: string,
    id: string,
    options: { readonly limit: number; readonly before?: number | undefined },
  ): Promise<readonly VersionRecord[]> {
    const before = options.before ?? Number.MAX_SAFE_INTEGER;
    return this.#st.history.all({ collection, id, before, limit: options.limit }).map(toVersionRecord);
  }

  /** See {@link Store.version}. */
  async version(collection: string, id: string, version: number): Promise<VersionRecord | null> {
    const row = this.#st.version.get({ collection, id, version });
    return row === undefined ? null : toVersionRecord(row);
  }

  /** See {@link Store.versionByEtag}. */
  async versionByEtag(collection: string, id: string, etag: string): Promise<VersionRecord | null> {
    return findByEtag(
      etag,
      (version) => this.version(collection, id, version),
      async () => {
        const row = this.#st.versionByEtag.get({ collection, id, etag });
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
    const rows =
      options.collection === undefined
        ? this.#st.changes.all(options.since, options.limit)
        : this.#st.changesOf.all(options.collection, options.since, options.limit);
    return rows.map(toChangeRecord);
  }

  /** See {@link Store.feedFloor}. */
  async feedFloor(): Promise<number> {
    return this.#feed.floor();
  }

  /** See {@link Store.pruneChanges}. */
  async pruneChanges(upTo: number, limit: number): Promise<number> {
    return this.#feed.prune(upTo, limit);
  }

  /** See {@link Store.lastSeq}. */
  async lastSeq(): Promise<number> {
    return this.#st.lastSeq.get()?.seq ?? 0;
  }

  /** See {@link Store.claimIdempotencyKey}. */
  async claimIdempotencyKey(request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    return this.#idempotency.claim(request);
  }

  /** See {@link Store.completeIdempotencyKey}. */
  async completeIdempotencyKey(completion: IdempotencyCompletion): Promise<void> {
    this.#idempotency.completeAlone(completion);
  }

  /** See {@link Store.releaseIdempotencyKey}. */
  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    this.#idempotency.release(scope, key);
  }

  /**
   * See {@link Store.commitIdempotent}. Queued with the commits of this turn of the event loop and
   * committed in their transaction, in arrival order, in a savepoint of its own (group-commit.ts):
   * sixty-four keyed increments of one counter that arrive together cost one transaction, not 128.
   */
  async commitIdempotent(commit: IdempotentCommit): Promise<IdempotentCommitResult> {
    const outcome = await this.#writes.run(() => this.#idempotency.commitKeyed(commit, this.#apply));
    // The work itself catches refusals of its ops; a CommitResult here would be a bug.
    if (!('state' in outcome)) throw new Error('a keyed commit was refused as a whole');
    return outcome;
  }

  /** See {@link Store.purgeIdempotencyKeys}. */
  async purgeIdempotencyKeys(now: number, limit: number): Promise<number> {
    return this.#idempotency.purge(now, limit);
  }

  /** See {@link Store.uniqueKeyHolders}: one primary key lookup per key. */
  async uniqueKeyHolders(
    collection: string,
    keys: readonly UniqueKey[],
  ): Promise<readonly UniqueKeyHolder[]> {
    const holders: UniqueKeyHolder[] = [];
    for (const { constraint, key } of keys) {
      const holder = this.#st.uniqueKeyHolder.get(collection, constraint, key)?.id;
      if (holder !== undefined) holders.push({ constraint, key, holder });
    }
    return holders;
  }

  /** See {@link Store.indexFingerprint}. */
  async indexFingerprint(collection: string): Promise<string | null> {
    return this.#reindex.fingerprint(collection);
  }

  /** See {@link Store.reindex}. */
  async reindex(
    collection: string,
    fingerprint: string,
    compute: (id: string, doc: JsonObject) => IndexEntries,
  ): Promise<ReindexResult> {
    return this.#reindex.reindex(collection, fingerprint, compute);
  }

  /** See {@link Store.ping}; rejects once the store is closed. */
  async ping(): Promise<void> {
    this.#st.ping.get();
  }

  /** See {@link Store.close}: commits what is queued first; closing twice is harmless. */
  async close(): Promise<void> {
    if (!this.#db.open) return;
    this.#writes.flush();
    // The worker's connection first: the last connection to close checkpoints and removes the WAL.
    await this.#checkpointer?.close();
    this.#writes.flush();
    if (this.#db.open) this.#db.close();
  }

  /** The current value of a connection setting, e.g. `synchronous` (1 = NORMAL, 2 = FULL). */
  pragma(name: SqlitePragma): unknown {
    return this.#db.pragma(name, { simple: true });
  }
}

/** Opens a SQLite store; see {@link SqliteStoreOptions} for the durability trade-off. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
