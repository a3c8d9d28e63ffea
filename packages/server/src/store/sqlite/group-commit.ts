import type Database from 'better-sqlite3';
import { type CommitResult, type Head, StoreBusyError, type WriteOp } from '../types.js';
import { Refused } from '../refusal.js';

/*
 * Group commit. A transaction costs far more than the few statements of a typical write: BEGIN,
 * COMMIT, and the WAL pages the commit appends (the change feed's last page, its index, the
 * AUTOINCREMENT counter, the heads page) are paid once per transaction, not once per write. So the
 * `commit()` calls that arrive in the same turn of the event loop share one
 * BEGIN IMMEDIATE ... COMMIT, each inside its own SAVEPOINT:
 *
 * - a call that is refused (version mismatch, unique violation, ...) or throws rolls back to its
 *   savepoint, which undoes exactly its own writes; the calls before and after it stay applied;
 * - calls run in arrival order and each sees what the earlier ones wrote, so the group behaves
 *   exactly as if the calls had committed one by one in that order;
 * - no call is settled before COMMIT has returned: an acknowledged write is a committed write
 *   (SPEC 3.12). When COMMIT fails, every call of the group is rejected with its error, refusals
 *   included, since they were judged against writes that never became durable.
 *
 * "Same turn" means before setImmediate: requests whose bytes arrived in one poll of the event
 * loop, each run as far as its first real wait, commit together. A lone request waits for nothing.
 */

/** At most this many calls share a transaction, so that one group cannot hold the write lock for long. */
const MAX_CALLS_PER_GROUP = 512;

interface Call {
  /** The work of the call, inside its savepoint: its result, or it throws (a {@link Refused}: its failure). */
  readonly run: () => unknown;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly result: unknown } | { readonly error: unknown };

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** Applies one call's ops inside the open transaction; see createApply in commit.ts. */
  readonly apply: (ops: readonly WriteOp[]) => Head[];
  /** Called after every transaction that committed. */
  readonly onCommit?: (() => void) | undefined;
}

/** The write path of a connection: queues `commit()` calls and commits them in groups. */
export class GroupCommit {
  readonly #db: Database.Database;
  readonly #apply: (ops: readonly WriteOp[]) => Head[];
  readonly #onCommit: (() => void) | undefined;
  readonly #sql: Record<
    'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo',
    Database.Statement
  >;
  #queue: Call[] = [];
  #scheduled = false;
  #paused = false;

  constructor(db: Database.Database, options: GroupCommitOptions) {
    this.#db = db;
    this.#apply = options.apply;
    this.#onCommit = options.onCommit;
    this.#sql = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT truce_call'),
      release: db.prepare('RELEASE truce_call'),
      rollbackTo: db.prepare('ROLLBACK TO truce_call'),
    };
  }

  /** Queues one call; settles once the transaction that carries it has committed (or failed). */
  commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    return this.run((): CommitResult => ({ ok: true, heads: this.#apply(ops) }));
  }

  /**
   * Queues any work that must commit with the group, in the same order and under the same rules as
   * {@link commit} (its own savepoint; settled after COMMIT). `work` runs synchronously inside the
   * transaction; throwing {@link Refused} resolves with its failure, any other error rejects.
   */
  run<T>(work: () => T): Promise<T | CommitResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ run: work, resolve: resolve as (result: unknown) => void, reject });
      this.#schedule();
    });
  }

  /**
   * Holds queued calls back until {@link resume}, without blocking anything else (reads go on).
   * The checkpointer uses it to get a moment with no writer, in which the WAL can be reset.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Ends a {@link pause}; the calls queued meanwhile commit in the next turn. */
  resume(): void {
    this.#paused = false;
    this.#schedule();
  }

  /** Commits every queued call now, paused or not (on close). */
  flush(): void {
    while (this.#queue.length > 0) {
      const group = this.#queue.slice(0, MAX_CALLS_PER_GROUP);
      this.#queue = this.#queue.slice(group.length);
      this.#commitGroup(group);
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#paused || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#paused) this.flush();
    });
  }

  #commitGroup(group: readonly Call[]): void {
    const db = this.#db;
    const sql = this.#sql;
    try {
      sql.begin.run();
    } catch (error) {
      // Typically SQLITE_BUSY: another process held the write lock for the whole busy timeout.
      // Nothing was written; the server answers 503 busy, which clients retry.
      const busy = (error as { code?: unknown }).code === 'SQLITE_BUSY';
      const reason = busy
        ? new StoreBusyError('the database is locked by another connection', 1, { cause: error })
        : error;
      for (const call of group) call.reject(reason);
      return;
    }
    const outcomes: Outcome[] = [];
    for (let i = 0; i < group.length; i++) {
      const call = group[i] as Call;
      try {
        sql.savepoint.run();
        const result = call.run();
        sql.release.run();
        outcomes.push({ result });
      } catch (error) {
        if (!db.inTransaction) {
          // SQLite rolled the whole transaction back (it does so on SQLITE_FULL, SQLITE_IOERR,
          // SQLITE_NOMEM...), taking the earlier calls with it. This call fails; the others were
          // never acknowledged, so they are simply tried again in a new transaction.
          call.reject(error);
          this.#queue = [...group.slice(0, i), ...group.slice(i + 1), ...this.#queue];
          return;
        }
        try {
          sql.rollbackTo.run();
          sql.release.run();
        } catch (undoError) {
          this.#abort(group, undoError);
          return;
        }
        outcomes.push(error instanceof Refused ? { result: error.failure } : { error });
      }
    }
    try {
      sql.commit.run();
    } catch (error) {
      this.#abort(group, error);
      return;
    }
    this.#onCommit?.();
    // Settled only now: every result above describes a committed state.
    group.forEach((call, i) => {
      const outcome = outcomes[i] as Outcome;
      if ('result' in outcome) call.resolve(outcome.result);
      else call.reject(outcome.error);
    });
  }

  /** Rolls the transaction back, if SQLite has not already, and fails every call of the group. */
  #abort(group: readonly Call[], error: unknown): void {
    if (this.#db.inTransaction) {
      try {
        this.#sql.rollback.run();
      } catch {
        // Nothing more to undo: SQLite rolls back an open transaction when the connection closes.
      }
    }
    for (const call of group) call.reject(error);
  }
}
