import { createHash } from 'node:crypto';
import { StagingStore } from '../batch/staging.js';
import { isProblemError, problemBody, ProblemError } from '../shared/problem-error.js';
import { commitProblem } from '../rules/failures.js';
import type { StoredResponse } from '../store/types.js';
import { busy, casRounds, takeTurn } from './commit.js';
import { header, need, type OperationInput, type OperationResult, type ResourceContext } from './context.js';

/** How long a claim holds before a retry may take over from a request whose process died. */
const CLAIM_LEASE_MS = 30_000;
/** Headers that describe the transport, not the answer: never stored for replay. */
const NOT_STORED = new Set(['content-length', 'date', 'connection', 'keep-alive', 'transfer-encoding']);
/** Request headers that change what a request asks for, and so belong to its fingerprint. */
const FINGERPRINTED = ['if-match', 'if-none-match', 'if-unmodified-since', 'truce-base', 'lock-token'];

/**
 * Runs a write under an `Idempotency-Key` (SPEC 3.8; IETF httpapi draft). The key is claimed for
 * the actor and route; a retry of a completed request gets the stored answer again with
 * `Idempotent-Replayed: true` (errors included), the same key with another payload is 422, and a
 * retry while the first request runs is 409 with `Retry-After`.
 *
 * The request runs against a staging store, and its writes commit in one transaction with the
 * stored answer: a crash at any point leaves either both or neither, so a retry can never apply a
 * write twice (a create retried after a lost response is not duplicated). A 5xx releases the key.
 */
export async function withIdempotencyKey(
  ctx: ResourceContext,
  input: OperationInput,
  key: string,
  run: (ctx: ResourceContext) => Promise<OperationResult>,
): Promise<OperationResult> {
  const scope = `${need(input.actor) ?? ''}\u0000${input.method} ${input.route}`;
  const now = ctx.now();
  const claim = await ctx.store.claimIdempotencyKey({
    scope,
    key,
    fingerprint: fingerprint(input),
    now,
    leaseMs: CLAIM_LEASE_MS,
    expiresAt: now + ctx.config.idempotencyTtlMs,
  });
  switch (claim.state) {
    case 'completed':
      return replay(claim.response);
    case 'mismatch':
      throw new ProblemError(
        'idempotency-key-reused',
        `Idempotency-Key "${key}" was used for a different request to ${input.method} ${input.instance}; use a new key for a new request.`,
      );
    case 'in-flight': {
      const seconds = Math.max(1, Math.min(5, Math.ceil((claim.lockedUntil - now) / 1000)));
      throw new ProblemError(
        'idempotency-in-flight',
        `A request with Idempotency-Key "${key}" is still running; retry after it finished to get its answer.`,
        {},
        { 'retry-after': String(seconds) },
      );
    }
    case 'claimed':
      break;
  }
  try {
    const target = resourceOf(ctx, input.route);
    const claimed = () => runClaimed(ctx, input, scope, key, run);
    return await (target === undefined ? claimed() : oneAtATime(ctx, target, claimed));
  } catch (error) {
    await ctx.store.releaseIdempotencyKey(scope, key);
    throw error;
  }
}

/**
 * The resource a request path is about (`c/id` for `/c/id` and everything below it), or undefined
 * for a path about a whole collection or the service (`POST /c`, `/_batch`), whose requests do not
 * meet on one resource and so need no queue.
 */
function resourceOf(ctx: ResourceContext, instance: string): string | undefined {
  const path = instance.slice(ctx.prefix.length).split('?')[0] ?? '';
  const [collection, id] = path.split('/').slice(1);
  if (!collection || !id || collection.startsWith('_') || id.startsWith('_')) return undefined;
  return `${collection}/${id}`;
}

/**
 * Runs the idempotent requests to one resource one after the other within this process. Each runs on a
 * staging view pinned to the versions it read, so two running at once on a hot resource (64 clients
 * incrementing one counter) make all but one fail their commit and run again, over and over: the
 * work grows with the square of the contention. In turn, each commits at its first try. Requests
 * from other processes, and writes without a key, still meet at the compare-and-set.
 */
async function oneAtATime<T>(ctx: ResourceContext, resource: string, task: () => Promise<T>): Promise<T> {
  // A queue of its own ("keyed:"): inside, the request may still take a compare-and-set turn.
  const release = await takeTurn(ctx.store, `keyed:${resource}`);
  try {
    return await task();
  } finally {
    release();
  }
}

async function runClaimed(
  ctx: ResourceContext,
  input: OperationInput,
  scope: string,
  key: string,
  run: (ctx: ResourceContext) => Promise<OperationResult>,
): Promise<OperationResult> {
  for (const _round of casRounds()) {
    const staging = new StagingStore(ctx.store);
    let result: OperationResult;
    try {
      result = await run({ ...ctx, store: staging });
    } catch (error) {
      if (!isProblemError(error) || statusOf(ctx, input, error) >= 500) throw error;
      result = asResult(ctx, input, error);
    }
    if (result.status >= 500) {
      await ctx.store.releaseIdempotencyKey(scope, key);
      return result;
    }
    const response = stored(result);
    if (staging.writes.length === 0) {
      await ctx.store.completeIdempotencyKey({ scope, key, response });
      return result;
    }
    const ops = staging.writes.map((w) => w.op);
    ops[ops.length - 1] = { ...ops[ops.length - 1]!, idempotency: { scope, key, response } };
    const committed = await ctx.store.commit(ops);
    if (committed.ok) return result;
    if (committed.reason === 'version-mismatch') continue; // another writer got in: run it again
    const op = ops[committed.index]!;
    const problem = await commitProblem(
      ctx,
      ctx.config.collections.get(op.collection)!,
      op.id,
      committed,
      op.doc,
      null,
      undefined,
      ops.slice(0, committed.index),
    );
    const refused = asResult(ctx, input, problem);
    await ctx.store.completeIdempotencyKey({ scope, key, response: stored(refused) });
    return refused;
  }
  throw busy(input.instance, 'idempotent request');
}

/** What the request asks for: method, target, body (canonical JSON) and the conditions it sets. */
function fingerprint(input: OperationInput): string {
  const conditions = Object.fromEntries(FINGERPRINTED.map((h) => [h, header(input.headers, h) ?? null]));
  const text = canonical({
    method: input.method,
    target: input.route,
    query: input.query,
    type: input.mediaType ?? null,
    body: input.body ?? null,
    conditions,
  });
  return createHash('sha256').update(text).digest('base64url');
}

/** JSON with object keys sorted, so that key order does not make a retry look like another request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function statusOf(ctx: ResourceContext, input: OperationInput, error: ProblemError): number {
  return problemBody(error, input.instance, ctx.typeBase)['status'] as number;
}

function asResult(ctx: ResourceContext, input: OperationInput, error: ProblemError): OperationResult {
  const body = problemBody(error, input.instance, ctx.typeBase);
  return {
    status: body['status'] as number,
    headers: { ...error.headers, 'content-type': 'application/problem+json; charset=utf-8' },
    body,
  };
}

function stored(result: OperationResult): StoredResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers))
    if (!NOT_STORED.has(name)) headers[name] = value;
  if (result.body !== undefined && !headers['content-type'])
    headers['content-type'] = 'application/json; charset=utf-8';
  const body =
    result.body === undefined
      ? null
      : typeof result.body === 'string'
        ? result.body
        : JSON.stringify(result.body);
  return { status: result.status, headers, body };
}

function replay(response: StoredResponse): OperationResult {
  return {
    status: response.status,
    headers: { ...response.headers, 'idempotent-replayed': 'true' },
    ...(response.body === null ? {} : { body: response.body }),
  };
}

/** Forgets expired keys, a few hundred per transaction with a turn of the event loop between. */
export async function purgeExpiredKeys(ctx: ResourceContext): Promise<number> {
  let total = 0;
  for (;;) {
    const removed = await ctx.store.purgeIdempotencyKeys(ctx.now(), 500);
    total += removed;
    if (removed < 500) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
