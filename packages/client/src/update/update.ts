/**
 * `update`: the seed's "re-fetch, merge, re-apply" loop (SPEC 4).
 *
 * 1. Start from the version this client last saw (or `base`, or a fresh read) and run the mutator
 *    on a copy: base = what the mutator saw, ours = its result.
 * 2. Send ours as a PUT conditioned on the base: `Truce-Base` where the server merges (SPEC 3.7),
 *    else `If-Match`.
 * 3. On `stale-write`, `version-conflict` or `edit-conflict`, take the current version (from the
 *    problem when it carries it, else by re-reading), merge three ways with the protocol's
 *    `mergeJson` (base, ours, theirs) and, when the merge is clean, send the result conditioned on
 *    the current version. When it is not, ask the resolver with every conflict at once.
 * 4. Repeat, with a jittered backoff between rounds, until a write lands or the rounds run out.
 *
 * Each round is a new request with its own Idempotency-Key; retries of one round keep it.
 */
import { cloneJson, deepEqual, isJsonObject, mergeJson, type JsonObject } from '@truce/protocol';
import {
  currentFromProblem,
  learnFromRefusal,
  ok,
  readCurrent,
  remember,
  request,
  resourcePath,
  writeHeaders,
  type ClientContext,
} from '../client/context.js';
import { recoverLostAck, sendWrite } from '../client/lost-ack.js';
import type { UpdateMode, WriteOptions } from '../client/options.js';
import { contentOf, fieldsOf, requireObject, type Snapshot } from '../client/snapshot.js';
import { TruceConflictError } from '../errors/conflict-error.js';
import { problemError } from '../http/problem.js';
import type { OperationScope } from '../http/timing.js';
import type { Exchange } from '../http/transport.js';
import { fullJitter } from '../retry/policy.js';
import type { Resource } from '../types/documents.js';
import { convergentPlaces } from './convergence.js';
import { updateMode } from './mode.js';
import { mergePolicyFor } from './policy.js';
import { applyChoices, type Conflict, type ConflictContext, type Resolver } from './resolve.js';

/** Changes a copy of the document in place, or returns the new document; may be async. */
export type Mutator<T> = (draft: Resource<T>) => void | T | Resource<T> | Promise<void | T | Resource<T>>;

/** Options of `update`. */
export interface UpdateOptions<T> extends Omit<WriteOptions, 'ifMatch' | 'idempotencyKey'> {
  /** What to do with conflicts; default the client's `conflicts.resolve`, else `'rerun'`. */
  readonly resolve?: Resolver<T>;
  /** Writes in all before giving up; default the client's `conflicts.rounds` (5). */
  readonly rounds?: number;
  /** Start from this version (what the user was shown) instead of the one this client last saw. */
  readonly base?: Snapshot<T>;
  /** Read the current version first instead of starting from the one this client last saw. */
  readonly fresh?: boolean;
  /** Override the client's {@link UpdateMode} for this call. */
  readonly mode?: UpdateMode;
}

/** What an update wrote. */
export interface UpdateResult<T> extends Snapshot<T> {
  /** Writes sent: 1 when the first landed, 0 when the mutator changed nothing. */
  readonly rounds: number;
  /** Whether concurrent changes were merged into the written version (by the server or the client). */
  readonly merged: boolean;
  /** How many conflicts the resolver was asked about, over all rounds. */
  readonly conflicts: number;
}

const CONFLICT_CODES = new Set(['stale-write', 'version-conflict', 'edit-conflict', 'http-412']);

/** Runs the update loop inside an operation's scope. */
export async function runUpdate<T>(
  ctx: ClientContext,
  scope: OperationScope,
  collection: string,
  id: string,
  mutator: Mutator<T>,
  options: UpdateOptions<T> | undefined,
): Promise<UpdateResult<T>> {
  const path = resourcePath(collection, id);
  const resolver = (options?.resolve ?? ctx.resolve) as Resolver<T>;
  const mode = await chooseMode(ctx, scope, options?.mode ?? ctx.mode, resolver);
  const maxRounds = options?.rounds ?? ctx.conflicts.rounds;

  let seen = await startingPoint<T>(ctx, scope, path, options);
  let ours = await mutate(mutator, seen);
  let merged = false;
  let asked = 0;
  for (let round = 1; ; round++) {
    if (deepEqual(ours, fieldsOf(seen.data))) return { ...seen, rounds: round - 1, merged, conflicts: asked };
    if (seen.etag === null)
      throw new TypeError(`update: ${path} came without a strong ETag to write against`);
    const headers = writeHeaders(
      ctx,
      path,
      { ...options, ifMatch: false },
      { ifMatch: false, idempotent: true },
    );
    headers[mode === 'truce-base' ? 'truce-base' : 'if-match'] = seen.etag;
    const sent = await sendWrite<T>(
      ctx,
      scope,
      path,
      { method: 'PUT', path, headers, body: ours },
      (current) => (current === null ? false : deepEqual(contentOf(current), contentOf(ours))),
    );
    // Found after `outcome-unknown` (never null: a missing resource is not this write's effect).
    if (!('exchange' in sent)) return { ...sent.current!, rounds: round, merged, conflicts: asked };
    const { exchange } = sent;
    if (ok(exchange)) {
      const written = remember<T>(ctx, path, exchange);
      const serverMerged = exchange.response.headers.has('truce-merged');
      // The server took a change both sides made as agreement; a rerun decides whether it was one.
      if (serverMerged && resolver === 'rerun' && round < maxRounds) {
        const before = await versionBefore(ctx, scope, path, written);
        if (before !== undefined && convergentPlaces(fieldsOf(seen.data), ours, before).length > 0) {
          seen = written;
          ours = await mutate(mutator, written);
          continue;
        }
      }
      return { ...written, rounds: round, merged: merged || serverMerged, conflicts: asked };
    }
    const recovered = await recoverLostAck<T>(ctx, scope, path, exchange, (current) =>
      current === null ? false : deepEqual(contentOf(current), contentOf(ours)),
    );
    if (recovered?.current) return { ...recovered.current, rounds: round, merged, conflicts: asked };
    learnFromRefusal(ctx, path, exchange);
    if (!isConflict(exchange)) throw problemError(exchange.response, exchange.body);
    if (round >= maxRounds) {
      throw new TruceConflictError('rounds-exhausted', {
        conflicts: [],
        rounds: round,
        current: currentFromProblem(exchange.body)?.data,
        cause: problemError(exchange.response, exchange.body),
      });
    }
    await ctx.timers.sleep(
      fullJitter(ctx.conflicts.baseMs, ctx.conflicts.capMs, round, ctx.timers.random),
      scope.signal,
    );
    const theirs = currentFromProblem<T>(exchange.body) ?? (await readCurrent<T>(ctx, scope, path));
    if (theirs === null) throw problemError(exchange.response, exchange.body);

    const base = fieldsOf(seen.data);
    const current = fieldsOf(theirs.data);
    const result = mergeJson(base, ours, current, await mergePolicyFor(ctx, scope, collection));
    const same = resolver === 'rerun' ? convergentPlaces(base, ours, current) : [];
    let next: JsonObject;
    if (result.ok && same.length === 0) {
      next = result.value as JsonObject;
      merged = true;
    } else if (resolver === 'rerun') {
      asked += (result.ok ? 0 : result.conflicts.length) + same.length;
      next = await mutate(mutator, theirs);
    } else if (result.ok) {
      next = result.value as JsonObject;
      merged = true;
    } else {
      const conflicts = describe(result.conflicts, exchange.body, theirs.data as JsonObject);
      asked += conflicts.length;
      const context = contextFor<T>(
        collection,
        id,
        seen,
        ours,
        theirs,
        result.value as JsonObject,
        conflicts,
        round,
        scope,
      );
      const resolution = typeof resolver === 'function' ? await resolver(conflicts, context) : resolver;
      scope.signal.throwIfAborted();
      if (resolution === 'abort') {
        throw new TruceConflictError('aborted', {
          conflicts,
          rounds: round,
          current: theirs.data,
          cause: problemError(exchange.response, exchange.body),
        });
      }
      if (resolution === 'rerun') next = await mutate(mutator, theirs);
      else {
        merged = true;
        next =
          resolution === 'theirs'
            ? (result.value as JsonObject)
            : resolution === 'ours'
              ? applyChoices(result.value as JsonObject, conflicts, () => 'ours')
              : normalise(resolution, "update: the resolver's document");
      }
    }
    seen = theirs;
    ours = next;
  }
}

/**
 * `Truce-Base` where the server merges and the caller asked for merging (a resolver other than
 * `'rerun'`): then an edit is a set of changes, and a change both sides made is agreement, as on the
 * server. With `'rerun'` the mutator is a function of the whole state (a counter, a total), and a
 * server merge would take a coincidentally equal result as agreement and write it as a new version
 * that changes nothing; `If-Match` makes every concurrent write a refusal instead, after which the
 * client merges disjoint changes itself and re-runs the mutator on any overlap. An explicit
 * `mode: 'truce-base'` sends `Truce-Base` anyway, and such agreements are then detected after the fact.
 */
async function chooseMode<T>(
  ctx: ClientContext,
  scope: OperationScope,
  mode: UpdateMode,
  resolver: Resolver<T>,
): Promise<'truce-base' | 'if-match'> {
  if (mode !== 'auto') return mode;
  return resolver === 'rerun' ? 'if-match' : updateMode(ctx, scope);
}

/** The version a write replaced (the one just before it), as fields; undefined when history lacks it. */
async function versionBefore<T>(
  ctx: ClientContext,
  scope: OperationScope,
  path: string,
  written: Snapshot<T>,
): Promise<JsonObject | undefined> {
  const version = (written.data as { _version?: unknown })._version;
  if (typeof version !== 'number' || version < 2) return undefined;
  const exchange = await request(ctx, scope, { method: 'GET', path: `${path}/_versions/${version - 1}` });
  return ok(exchange) && isJsonObject(exchange.body) ? fieldsOf(exchange.body) : undefined;
}

async function startingPoint<T>(
  ctx: ClientContext,
  scope: OperationScope,
  path: string,
  options: UpdateOptions<T> | undefined,
): Promise<Snapshot<T>> {
  if (options?.base !== undefined) return options.base;
  const cached = options?.fresh === true ? undefined : ctx.cache.get(path);
  if (cached !== undefined) return { data: cloneJson(cached.data), etag: cached.etag } as Snapshot<T>;
  const current = await readCurrent<T>(ctx, scope, path);
  if (current === null) {
    // Read again through the error path, so that the caller gets the server's own 404 problem.
    const exchange = await request(ctx, scope, { method: 'GET', path });
    throw problemError(exchange.response, exchange.body);
  }
  return current;
}

async function mutate<T>(mutator: Mutator<T>, snapshot: Snapshot<T>): Promise<JsonObject> {
  const draft = cloneJson(snapshot.data);
  const result = await mutator(draft);
  return normalise(result === undefined ? draft : result, "update: the mutator's result");
}

/** The document as JSON would carry it (no `undefined` members, dates as strings), without server members. */
function normalise(value: unknown, what: string): JsonObject {
  requireObject(value, what);
  return fieldsOf(requireObject(JSON.parse(JSON.stringify(value)), what));
}

function isConflict(exchange: Exchange): boolean {
  if (exchange.status !== 409 && exchange.status !== 412) return false;
  const code = (exchange.body as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? CONFLICT_CODES.has(code) : exchange.status === 412;
}

/**
 * The merge's conflicts with who wrote theirs and when: per place from the server's `edit-conflict`
 * where it reported that place, else the refusal's `changedBy`/`changedAt`, else the current
 * version's `_updatedBy`/`_updatedAt`.
 */
function describe(
  found: readonly { pointer: string; base?: unknown; yours?: unknown; theirs?: unknown }[],
  problem: unknown,
  theirs: JsonObject,
): Conflict[] {
  const p = (problem ?? {}) as { conflicts?: unknown; changedBy?: unknown; changedAt?: unknown };
  const reported = new Map<string, { changedBy?: unknown; changedAt?: unknown }>();
  if (Array.isArray(p.conflicts)) {
    for (const c of p.conflicts as { pointer?: unknown; changedBy?: unknown; changedAt?: unknown }[]) {
      if (typeof c.pointer === 'string') reported.set(c.pointer, c);
    }
  }
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return found.map((c) => {
    const source = reported.get(c.pointer);
    const changedBy = source ? text(source.changedBy) : (text(p.changedBy) ?? text(theirs['_updatedBy']));
    const changedAt = source ? text(source.changedAt) : (text(p.changedAt) ?? text(theirs['_updatedAt']));
    return {
      pointer: c.pointer,
      ...(c.base === undefined ? {} : { base: c.base }),
      ...(c.yours === undefined ? {} : { ours: c.yours }),
      ...(c.theirs === undefined ? {} : { theirs: c.theirs }),
      changedBy,
      changedAt,
    } as Conflict;
  });
}

function contextFor<T>(
  collection: string,
  id: string,
  seen: Snapshot<T>,
  ours: JsonObject,
  theirs: Snapshot<T>,
  merged: JsonObject,
  conflicts: readonly Conflict[],
  round: number,
  scope: OperationScope,
): ConflictContext<T> {
  return {
    collection,
    id,
    base: cloneJson(seen.data),
    ours: cloneJson(ours) as T,
    theirs: cloneJson(theirs.data),
    merged: cloneJson(merged) as T,
    round,
    signal: scope.signal,
    choose: (choices) => applyChoices(merged, conflicts, (c) => choices[c.pointer] ?? 'theirs') as T,
  };
}
