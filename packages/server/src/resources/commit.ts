import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { Indexed } from '../rules/check.js';
import { commitProblem } from '../rules/failures.js';
import type { Head, Increment, JsonObject, WriteOp } from '../store/types.js';
import { resourcePath, type OperationResult, type ResourceContext } from './context.js';
import { headRepresentation, provenance, validatorHeaders } from './representation.js';
import { latestLink } from './stale.js';

/**
 * A lost compare-and-set means another writer committed between our read and our write; the
 * caller then re-reads and re-evaluates everything. Each lost round is someone else's success, so
 * this only runs out under extreme contention, and then the client is told to come back (503).
 */
export const MAX_ROUNDS = 64;

/** No compare-and-set round starts after this long: a request then answers busy, not never. */
export const ROUND_BUDGET_MS = 5_000;

/**
 * The rounds of a compare-and-set loop: at most {@link MAX_ROUNDS}, and none started once
 * {@link ROUND_BUDGET_MS} have passed since the first. On a slow store under heavy contention (many
 * writers of one resource over PostgreSQL) losing 64 races can take far longer than a client waits;
 * the loop's caller answers 503 `busy` with `Retry-After` when the rounds run out.
 */
export function* casRounds(): Generator<number> {
  const deadline = performance.now() + ROUND_BUDGET_MS;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    if (round > 0 && performance.now() >= deadline) return;
    yield round;
  }
}

/** One write for {@link commitOne}. */
export interface OneWrite {
  readonly expectVersion: number | null;
  readonly doc: JsonObject | null;
  readonly actor: string | null;
  readonly indexed?: Indexed | undefined;
  readonly increment?: Increment | undefined;
  /** The head the write was based on, for the problems that say what stood in the way. */
  readonly current: Head | null;
  /** The request's `Lock-Token` (SPEC 3.9); without it, a live lease on the resource refuses the write. */
  readonly lockToken?: string | null | undefined;
  /** The write made again on a newer head, inside the commit (store/types.ts, WriteOp.rebase). */
  readonly rebase?: WriteOp['rebase'];
  /** The document and head of the write as last made (after `rebase`), for a refusal's problem. */
  readonly latest?: (() => { readonly doc: JsonObject | null; readonly current: Head | null }) | undefined;
}

/**
 * Commits one write. Resolves with the new head, or undefined when another writer won the race
 * (re-read and try again); throws the problem when the store refused it for a business rule.
 */
export async function commitOne(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  write: OneWrite,
): Promise<Head | undefined> {
  const result = await ctx.store.commit([
    {
      collection: collection.name,
      id,
      expectVersion: write.expectVersion,
      doc: write.doc,
      increment: write.increment,
      actor: write.actor,
      keepHistory: collection.historyKeep,
      uniqueKeys: write.indexed?.uniqueKeys,
      references: write.indexed?.references,
      // Every write is checked against the resource's lease, in the commit itself.
      lock: { token: write.lockToken ?? null, now: ctx.now() },
      rebase: write.rebase,
    },
  ]);
  if (result.ok) return result.heads[0]!;
  if (result.reason === 'version-mismatch') return undefined;
  const { doc, current } = write.latest?.() ?? write;
  throw await commitProblem(ctx, collection, id, result, doc, current, write.increment);
}

/** The answer to a successful write: the new representation with its validators. */
export function writtenResult(
  ctx: ResourceContext,
  collection: CollectionConfig,
  head: Head,
  created: boolean,
): OperationResult {
  return {
    status: created ? 201 : 200,
    headers: {
      ...validatorHeaders(head.etag, head.updatedAt),
      ...(created ? { location: resourcePath(ctx, collection.name, head.id) } : {}),
    },
    body: headRepresentation(head),
  };
}

// Per store, per resource: the tail of the queue of writers waiting for their turn in this process.
const turnQueues = new WeakMap<object, Map<string, Promise<void>>>();

/**
 * Waits until the holders of turns on `key` (of `store`) that came before are done; resolves with
 * the release, which the caller must call exactly once when its turn is over.
 */
export async function takeTurn(store: object, key: string): Promise<() => void> {
  let queues = turnQueues.get(store);
  if (queues === undefined) turnQueues.set(store, (queues = new Map()));
  const ahead = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = ahead.then(() => mine);
  queues.set(key, tail);
  await ahead;
  return () => {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  };
}

/**
 * The rounds of a compare-and-set loop on one resource ({@link casRounds}), where a writer that lost
 * its first race waits for its turn among this process's other losers before each further round.
 * Without the turn, many writers of one hot resource (64 clients merging into one document) retry
 * all at once and nearly all lose again, round after round; with it, the writer whose turn it is
 * competes only with first attempts, and usually wins. Uncontended writes never wait: the first
 * round takes no turn. Writers in other processes still meet at the store's compare-and-set.
 */
export async function* casTurns(
  ctx: ResourceContext,
  collection: string,
  id: string,
): AsyncGenerator<number> {
  let release: (() => void) | undefined;
  try {
    for (const round of casRounds()) {
      if (round === 1) release = await takeTurn(ctx.store, `cas:${collection.length}:${collection}/${id}`);
      yield round;
    }
  } finally {
    release?.();
  }
}

/** The 503 once the rounds of {@link casRounds} ran out: every one lost its race. */
export function busy(collection: string, id: string): ProblemError {
  return new ProblemError(
    'busy',
    `${collection}/${id} is being written too often to get a turn; retry shortly.`,
    {},
    { 'retry-after': '1' },
  );
}

/** 428: the collection requires conditional writes (SPEC 3.4: `currentEtag` is not sent). */
export function preconditionRequired(collection: CollectionConfig): ProblemError {
  return new ProblemError(
    'precondition-required',
    `Writes to ${collection.name} must be conditional: send If-Match with the ETag you read (or If-None-Match: * to create).`,
  );
}

/** 409: the `_version` the client sent is not the current one. */
export function versionConflict(
  ctx: ResourceContext,
  collection: CollectionConfig,
  current: Head | null,
  yours: number,
  id: string = current?.id ?? '',
): ProblemError {
  return new ProblemError(
    'version-conflict',
    `You sent _version ${yours}, but ${collection.name}/${id} is at ${current ? `version ${current.version}, written at ${new Date(current.updatedAt).toISOString()}${current.updatedBy ? ` by ${current.updatedBy}` : ''}` : 'no version (it does not exist)'}.`,
    {
      currentVersion: current?.version ?? null,
      yourVersion: yours,
      current: current ? headRepresentation(current) : null,
      ...provenance(current),
    },
    latestLink(ctx, collection.name, id),
  );
}
