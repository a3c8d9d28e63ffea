import { Refused } from '../refusal.js';
import type { CommitResult, Head, WriteOp } from '../types.js';
import { type Queryable, sqlState } from './rows.js';

/*
 * Group commit on PostgreSQL. A durable COMMIT waits for its WAL flush, which costs far more than
 * the statements of a typical write; so the calls of one process that arrive together share one
 * transaction and one flush:
 *
 * - Calls queued in the same turn of the event loop (or within `windowMs` of the first of them)
 *   form a group of at most `maxCalls`, run in the order of their first key (see #take). Up to `maxGroups` groups are in flight at
 *   once, each on a pooled connection of its own; calls that arrive meanwhile wait for the next one.
 * - Two calls that touch the same resource, unique key owner or idempotency key (their `keys`) are
 *   never in two groups in flight at once, and keep their order: the later one waits for a later
 *   group. Inside one group they run one after the other, and each sees what the earlier wrote, so
 *   a hot document is written many times per flush instead of once per flush: a compare-and-set
 *   write based on an earlier version is made again on what the one before it left (commit.ts,
 *   rebased; WriteOp.rebase in types.ts) instead of losing its race.
 * - Simple writes (one op, checked by version and lease only: commit.ts, applySimpleOps) are applied
 *   together first, in two statements whatever their number: their heads locked in key order,
 *   then one statement that writes every change and head.
 * - A call that can be refused after it wrote something (a batch, unique keys, references, a
 *   create, an idempotent commit) runs inside a SAVEPOINT: a refusal or an error rolls back exactly
 *   its own writes, and its neighbours stay applied. Calls that can only be refused before they
 *   write (one plain write, an increment, a lease) skip the savepoint's two round trips; if one of
 *   them meets a database error, which spoils the transaction, that call is failed alone and the
 *   rest of the group runs again in a new transaction.
 * - Nothing is settled before COMMIT returned. A deadlock runs the whole group again (the store's
 *   retry loop); a connection lost before COMMIT fails the group as busy, nothing written; a COMMIT
 *   whose answer was lost leaves every call of the group outcome-unknown, as for a single write.
 */

/** One call of a group: work of its own, or a simple write that the group batches with others. */
export type GroupCall<T> =
  | {
      /** What it touches (resources, keys): calls sharing one never run in two groups at once. */
      readonly keys: readonly string[];
      /** Whether it may be refused, or fail, after writing: then it runs inside a savepoint. */
      readonly savepoint: boolean;
      /** The work, inside the group's transaction. Throwing {@link Refused} resolves with its failure. */
      readonly run: (db: Queryable) => Promise<T>;
    }
  | {
      readonly keys: readonly string[];
      /** One op that `applySimple` applies with the other simple calls of the group, first. */
      readonly simple: WriteOp;
    };

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** How long the first call of a group waits for others; 0: only for the current event-loop turn. */
  readonly windowMs: number;
  /** The most calls in one transaction. */
  readonly maxCalls: number;
  /** The most groups in flight at once (each holds a pooled connection until its COMMIT returns). */
  readonly maxGroups: number;
  /**
   * Runs `fn` in a transaction (BEGIN, `fn`, COMMIT), again when PostgreSQL aborted it for a
   * deadlock; rejects with the error that ended it.
   */
  readonly transaction: <T>(fn: (db: Queryable) => Promise<T>) => Promise<T>;
  /**
   * Applies the simple calls' ops of a group in a few statements (commit.ts, applySimpleOps): per
   * op, its new head, or the error that refused it ({@link Refused}) or that it threw.
   */
  readonly applySimple: (db: Queryable, ops: readonly WriteOp[]) => Promise<(Head | Error)[]>;
}

interface Queued {
  readonly call: GroupCall<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly value: unknown } | { readonly error: unknown };

/** SQLSTATE classes after which the transaction as a whole is gone or must run again. */
const GROUP_ENDING = /^(08|40|57|53|58|XX)/;

/** A call whose database error spoiled its group's transaction; the others run again without it. */
class CallFailed extends Error {
  constructor(
    readonly queued: Queued,
    readonly error: unknown,
  ) {
    super('one call of a group failed');
  }
}

/** The simple calls' batch met a database error: the group runs again with each of them alone. */
class BatchFailed extends Error {
  constructor(readonly error: unknown) {
    super('the batch of simple writes failed');
  }
}

/** The write path of one store: queues calls and commits them in groups (see the top of this file). */
export class GroupCommit {
  readonly #options: GroupCommitOptions;
  #queue: Queued[] = [];
  #scheduled = false;
  #groups = 0;
  /** Keys of the calls in flight, with how many hold each. */
  readonly #busy = new Map<string, number>();

  constructor(options: GroupCommitOptions) {
    if (!(options.maxCalls >= 1 && options.maxGroups >= 1 && options.windowMs >= 0)) {
      throw new RangeError('Group commit needs maxCalls >= 1, maxGroups >= 1 and windowMs >= 0.');
    }
    this.#options = options;
  }

  /** Queues one call; settles once the transaction that carried it has committed (or failed). */
  submit<T>(call: GroupCall<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ call, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const start = () => {
      this.#scheduled = false;
      this.#drain();
    };
    if (this.#options.windowMs > 0) setTimeout(start, this.#options.windowMs);
    else setImmediate(start);
  }

  /** Starts groups while there are calls free to run and room for another group. */
  #drain(): void {
    while (this.#groups < this.#options.maxGroups && this.#queue.length > 0) {
      const group = this.#take();
      if (group.length === 0) return;
      this.#groups++;
      for (const q of group)
        for (const key of q.call.keys) this.#busy.set(key, (this.#busy.get(key) ?? 0) + 1);
      void this.#run(group).finally(() => {
        for (const q of group) {
          for (const key of q.call.keys) {
            const n = (this.#busy.get(key) ?? 1) - 1;
            if (n === 0) this.#busy.delete(key);
            else this.#busy.set(key, n);
          }
        }
        this.#groups--;
        this.#drain();
      });
    }
  }

  /**
   * The next group: queued calls in order, skipping those that share a key with a group in flight
   * or with a call skipped before them (which keeps the order of calls on one key).
   */
  #take(): Queued[] {
    const group: Queued[] = [];
    const left: Queued[] = [];
    const held = new Set<string>();
    for (const q of this.#queue) {
      const blocked =
        group.length >= this.#options.maxCalls || q.call.keys.some((k) => this.#busy.has(k) || held.has(k));
      if (blocked) {
        for (const k of q.call.keys) held.add(k);
        left.push(q);
      } else group.push(q);
    }
    this.#queue = left;
    // Row locks are taken in the order calls run: in key order, two groups (of this process or
    // another) lock the rows of one-resource calls in the same order and cannot deadlock. Calls in
    // one group were in flight together, so no order between them was promised; the sort is
    // stable, which keeps the arrival order of calls on one key.
    return group.sort((a, b) => compareKeys(a.call.keys[0], b.call.keys[0]));
  }

  async #run(group: Queued[]): Promise<void> {
    let calls = group;
    let singly = false;
    while (calls.length > 0) {
      let outcomes: Outcome[];
      try {
        const batched = !singly;
        outcomes = await this.#options.transaction((db) =>
          runCalls(db, calls, this.#options.applySimple, batched),
        );
      } catch (error) {
        if (error instanceof BatchFailed) {
          singly = true;
          continue;
        }
        if (error instanceof CallFailed) {
          error.queued.reject(error.error);
          calls = calls.filter((q) => q !== error.queued);
          continue;
        }
        for (const q of calls) q.reject(error);
        return;
      }
      for (const [i, q] of calls.entries()) {
        const outcome = outcomes[i]!;
        if ('value' in outcome) q.resolve(outcome.value);
        else if (outcome.error instanceof Refused) q.resolve(outcome.error.failure);
        else q.reject(outcome.error);
      }
      return;
    }
  }
}

function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}

/**
 * Runs the calls of a group inside its transaction (see the top of this file): the simple ones
 * together first, then the others in order. Outcomes are in the order of `calls`.
 */
async function runCalls(
  db: Queryable,
  calls: readonly Queued[],
  applySimple: GroupCommitOptions['applySimple'],
  batched: boolean,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array<Outcome>(calls.length);
  const toOutcome = (result: Head | Error): Outcome =>
    result instanceof Error
      ? { error: result }
      : { value: { ok: true, heads: [result] } satisfies CommitResult };
  const simple = calls.flatMap((q, i) => ('simple' in q.call ? [{ i, op: q.call.simple }] : []));
  if (batched && simple.length > 0) {
    let applied: (Head | Error)[];
    try {
      applied = await applySimple(
        db,
        simple.map((s) => s.op),
      );
    } catch (error) {
      // A lock timeout, say, of one of them: which one cannot be told, so each runs alone.
      const state = sqlState(error);
      if (state === undefined || GROUP_ENDING.test(state)) throw error;
      if (simple.length === 1) throw new CallFailed(calls[simple[0]!.i]!, error);
      throw new BatchFailed(error);
    }
    simple.forEach(({ i }, n) => (outcomes[i] = toOutcome(applied[n]!)));
  }
  for (const [i, queued] of calls.entries()) {
    const { call } = queued;
    if ('simple' in call) {
      if (batched) continue;
      try {
        outcomes[i] = toOutcome((await applySimple(db, [call.simple]))[0]!);
      } catch (error) {
        const state = sqlState(error);
        if (state === undefined || GROUP_ENDING.test(state)) throw error;
        throw new CallFailed(queued, error);
      }
      continue;
    }
    if (call.savepoint) await db.query('SAVEPOINT truce_call');
    try {
      const value = await call.run(db);
      if (call.savepoint) await db.query('RELEASE SAVEPOINT truce_call');
      outcomes[i] = { value };
    } catch (error) {
      const state = sqlState(error);
      if (state !== undefined && GROUP_ENDING.test(state)) throw error;
      if (call.savepoint) {
        await db.query('ROLLBACK TO SAVEPOINT truce_call');
        await db.query('RELEASE SAVEPOINT truce_call');
      } else if (state !== undefined) {
        throw new CallFailed(queued, error);
      }
      outcomes[i] = { error };
    }
  }
  return outcomes;
}
