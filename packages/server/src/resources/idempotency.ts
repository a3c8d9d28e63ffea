import { hash } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json.js';
import { isProblemError, problemBody, ProblemError } from '../shared/problem-error.js';
import { commitProblem } from '../rules/failures.js';
import type { CommitResult, StoredResponse, WriteOp } from '../store/types.js';
import { busy, casRounds } from './commit.js';
import { header, need, type OperationInput, type OperationResult, type ResourceContext } from './context.js';
import { KeyedStaging, KeyGate, type KeyTaken } from './keyed-store.js';

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
 * The key is claimed at the request's first use of the store (keyed-store.ts); a request whose
 * whole effect is one commit claims it in that very transaction ({@link commitAnswered}).
 */
export async function withIdempotencyKey(
  ctx: ResourceContext,
  input: OperationInput,
  key: string,
  run: (ctx: ResourceContext) => Promise<OperationResult>,
): Promise<OperationResult> {
  const scope = `${need(input.actor) ?? ''}\u0000${input.method} ${input.route}`;
  const now = ctx.now();
  const gate = new KeyGate(
    ctx.store,
    {
      scope,
      key,
      fingerprint: fingerprint(input),
      now,
      leaseMs: CLAIM_LEASE_MS,
      expiresAt: now + ctx.config.idempotencyTtlMs,
    },
    resourceOf(ctx, input.route),
  );
  try {
    const result = await runKeyed(ctx, input, gate, run);
    return gate.decided ? taken(gate.decided, input, key, now) : result;
  } catch (error) {
    if (gate.decided) return taken(gate.decided, input, key, now);
    if (gate.claimed) await releaseKey(ctx, scope, key, now);
    throw error;
  } finally {
    gate.leave();
  }
}

/** How long before its claim lapses a key is no longer given back (another request may then take it). */
const RELEASE_MARGIN_MS = 5_000;
/** The longest pause between two attempts to give a key back. */
const RELEASE_BACKOFF_MS = 4_000;

/**
 * Gives back the key of a request that failed with a 5xx, so that a retry may run at once. When the
 * store cannot be reached (the database is down: most likely why the request failed), it tries
 * again in the background, with backoff, for as long as the claim is still its own: until
 * {@link RELEASE_MARGIN_MS} before the claim made at `claimedAt` lapses, after which another request
 * may have taken the key over and must not lose it. Without this, a retry would be told
 * `idempotency-in-flight` until the claim lapsed, half a minute after the database came back.
 */
async function releaseKey(
  ctx: ResourceContext,
  scope: string,
  key: string,
  claimedAt: number,
): Promise<void> {
  const until = claimedAt + CLAIM_LEASE_MS - RELEASE_MARGIN_MS;
  const attempt = (delay: number): void => {
    const timer = setTimeout(() => {
      if (ctx.now() >= until) return;
      ctx.store
        .releaseIdempotencyKey(scope, key)
        .catch(() => attempt(Math.min(delay * 2, RELEASE_BACKOFF_MS)));
    }, delay);
    timer.unref();
  };
  try {
    await ctx.store.releaseIdempotencyKey(scope, key);
  } catch {
    attempt(250);
  }
}

/** The answer when the key was not free: the stored answer again, or why not. */
function taken(found: KeyTaken, input: OperationInput, key: string, now: number): OperationResult {
  switch (found.state) {
    case 'completed':
      return replay(found.response);
    case 'mismatch':
      throw new ProblemError(
        'idempotency-key-reused',
        `Idempotency-Key "${key}" was used for a different request to ${input.method} ${input.instance}; use a new key for a new request.`,
      );
    case 'in-flight': {
      const seconds = Math.max(1, Math.min(5, Math.ceil((found.lockedUntil - now) / 1000)));
      throw new ProblemError(
        'idempotency-in-flight',
        `A request with Idempotency-Key "${key}" is still running; retry after it finished to get its answer.`,
        {},
        { 'retry-after': String(seconds) },
      );
    }
  }
}

/**
 * Commits `ops` and answers from the outcome alone: a successful result, or the problem to answer
 * (thrown when the request has no key). Under an Idempotency-Key whose request has not used the
 * store yet, the claim, the ops and the stored answer share one transaction (store
 * `commitIdempotent`); concurrent keyed increments of one counter then share SQLite's group commit
 * instead of taking turns. `answer` runs inside that transaction, so it must only compute.
 */
export async function commitAnswered(
  ctx: ResourceContext,
  input: OperationInput,
  ops: readonly WriteOp[],
  answer: (result: CommitResult) => OperationResult | ProblemError,
): Promise<OperationResult> {
  const store = ctx.store;
  if (!(store instanceof KeyedStaging) || !store.gate.untouched) {
    const answered = answer(await store.commit(ops));
    if (isProblemError(answered)) throw answered;
    return answered;
  }
  let result: OperationResult | undefined;
  await store.gate.commitOnce(ops, (outcome) => {
    const answered = answer(outcome);
    result = isProblemError(answered) ? asResult(ctx, input, answered) : answered;
    // A 5xx is not an answer to keep: the key stays free for a retry.
    if (result.status >= 500) return null;
    const response = stored(result);
    result = rendered(result, response);
    return response;
  });
  return result!;
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
 * Runs the request on a staging view, round after round while its commit loses a compare-and-set,
 * and commits its writes with the stored answer; a request that committed through
 * {@link commitAnswered} is done when it returns.
 */
async function runKeyed(
  ctx: ResourceContext,
  input: OperationInput,
  gate: KeyGate,
  run: (ctx: ResourceContext) => Promise<OperationResult>,
): Promise<OperationResult> {
  const { scope, key } = gate.claim;
  for (const _round of casRounds()) {
    const staging = new KeyedStaging(ctx.store, gate);
    let result: OperationResult;
    try {
      result = await run({ ...ctx, store: staging });
    } catch (error) {
      if (gate.decided || !isProblemError(error) || statusOf(ctx, input, error) >= 500) throw error;
      result = asResult(ctx, input, error);
    }
    if (gate.decided || gate.oneCommit) return result;
    // A request that answered without using the store (a malformed body) keeps its answer too.
    await gate.enter();
    if (result.status >= 500) {
      await releaseKey(ctx, scope, key, gate.claim.now);
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
    if (committed.ok) return rendered(result, response);
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
  const text = canonicalJson({
    method: input.method,
    target: input.route,
    query: input.query,
    type: input.mediaType ?? null,
    body: input.body ?? null,
    conditions,
  });
  // One-shot: a Hash object per request cost more than the digest itself.
  return hash('sha256', text, 'base64url');
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

/** The answer with its body as stored: the text is sent as it is, not serialised a second time. */
function rendered(result: OperationResult, response: StoredResponse): OperationResult {
  return response.body === null || typeof result.body === 'string'
    ? result
    : { ...result, body: response.body };
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
