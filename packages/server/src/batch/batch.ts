import { isJsonObject, type JsonValue } from '@truce/protocol';
import { parsePath } from '../http/path.js';
import { headerBytes } from '../http/request.js';
import { problemBody, ProblemError } from '../shared/problem-error.js';
import { commitProblem } from '../rules/failures.js';
import { casRounds, busy } from '../resources/commit.js';
import {
  need,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from '../resources/context.js';
import { ResultBudget } from './budget.js';
import { StagingStore } from './staging.js';

/** SPEC 3.10: at most this many operations in one batch. */
export const MAX_OPERATIONS = 100;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Headers an operation may not set: the transport's, and the actor (the batch's own actor applies). */
const DROPPED_HEADERS = new Set([
  'x-truce-batch-staging',
  // The batch as a whole carries the Idempotency-Key; its operations commit with it.
  'idempotency-key',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'accept',
  'expect',
]);
/** Response headers that describe the transport, not the result. */
const TRANSPORT_HEADERS = new Set([
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
]);

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: JsonValue | undefined;
}

/** One operation's outcome, as in the response's `results`. */
export interface OperationOutcome {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

/** How a batch runs one operation: through the server's own routes (Fastify's inject). */
export type Dispatch = (op: Operation, staging: StagingStore | undefined) => Promise<OperationOutcome>;

/**
 * POST `/_batch` (SPEC 3.10). Each operation runs through the same route, with the same checks, as
 * the single request would. Atomic (the default): the operations run against a staging view in
 * which later ones see the earlier ones' effects; the staged writes then commit together, or the
 * first failing operation's problem comes back with `operationIndex` and nothing is applied.
 */
export async function runBatch(
  ctx: ResourceContext,
  input: OperationInput,
  dispatch: Dispatch,
): Promise<OperationResult> {
  const { atomic, operations } = readBatch(ctx, input);
  if (!atomic) {
    const results: OperationOutcome[] = [];
    const budget = new ResultBudget(ctx.typeBase);
    for (const op of operations) results.push(budget.fit(op, await dispatch(op, undefined)));
    return { status: 200, headers: {}, body: { results } };
  }
  for (const _round of casRounds()) {
    const staging = new StagingStore(ctx.store);
    const results: OperationOutcome[] = [];
    const budget = new ResultBudget(ctx.typeBase);
    for (const [index, op] of operations.entries()) {
      staging.operation = index;
      const outcome = await dispatch(op, staging);
      if (outcome.status >= 400) return failed(index, outcome);
      if (!budget.take(outcome)) return failed(index, budget.refusal(op));
      results.push(outcome);
    }
    if (staging.writes.length === 0) return { status: 200, headers: {}, body: { results } };
    const committed = await ctx.store.commit(staging.writes.map((w) => w.op));
    if (committed.ok) return { status: 200, headers: {}, body: { results } };
    if (committed.reason === 'version-mismatch') continue; // someone wrote in between: run it again
    const write = staging.writes[committed.index]!;
    const collection = ctx.config.collections.get(write.op.collection)!;
    const earlier = staging.writes.slice(0, committed.index).map((w) => w.op);
    const problem = await commitProblem(
      ctx,
      collection,
      write.op.id,
      committed,
      write.op.doc,
      null,
      undefined,
      earlier,
    );
    const body = problemBody(problem, operations[write.operation]!.path, ctx.typeBase);
    return failed(write.operation, {
      status: body['status'] as number,
      headers: { ...problem.headers },
      body,
    });
  }
  throw busy('_batch', `${operations.length} operations`);
}

/** The response of a failed atomic batch: the operation's own problem, plus where it happened. */
function failed(index: number, outcome: OperationOutcome): OperationResult {
  const body = isJsonObject(outcome.body as JsonValue) ? (outcome.body as Record<string, unknown>) : {};
  return {
    status: outcome.status,
    headers: { ...outcome.headers, 'content-type': 'application/problem+json; charset=utf-8' },
    body: { ...body, operationIndex: index },
  };
}

function readBatch(
  ctx: ResourceContext,
  input: OperationInput,
): { atomic: boolean; operations: Operation[] } {
  const body = input.body;
  const errors: { pointer: string; message: string }[] = [];
  if (!isJsonObject(body as JsonValue))
    throw malformed([{ pointer: '', message: 'must be an object with "operations"' }]);
  const doc = body as Record<string, unknown>;
  const atomic = doc['atomic'] ?? true;
  if (typeof atomic !== 'boolean') errors.push({ pointer: '/atomic', message: 'must be true or false' });
  for (const k of Object.keys(doc)) {
    if (k !== 'atomic' && k !== 'operations')
      errors.push({ pointer: `/${k}`, message: 'is not a member of a batch' });
  }
  const list = doc['operations'];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_OPERATIONS) {
    errors.push({ pointer: '/operations', message: `must be an array of 1 to ${MAX_OPERATIONS} operations` });
    throw malformed(errors);
  }
  const actor = need(input.actor);
  const operations = list.map((raw, i) =>
    readOperation(ctx, raw, `/operations/${i}`, actor, atomic !== false, errors),
  );
  if (errors.length > 0) throw malformed(errors);
  return { atomic: atomic as boolean, operations: operations as Operation[] };
}

function readOperation(
  ctx: ResourceContext,
  raw: unknown,
  at: string,
  actor: string | null,
  atomic: boolean,
  errors: { pointer: string; message: string }[],
): Operation | undefined {
  if (!isJsonObject(raw as JsonValue)) {
    errors.push({ pointer: at, message: 'must be an object with method and path' });
    return undefined;
  }
  const op = raw as Record<string, unknown>;
  const method = typeof op['method'] === 'string' ? op['method'].toUpperCase() : '';
  if (!METHODS.has(method))
    errors.push({ pointer: `${at}/method`, message: `must be one of ${[...METHODS].join(', ')}` });
  const path = typeof op['path'] === 'string' ? operationPath(ctx, op['path'], atomic) : undefined;
  if (path === undefined || path.refused !== undefined) {
    errors.push({ pointer: `${at}/path`, message: path?.refused ?? 'must be a string' });
  }
  const headers: Record<string, string> = {};
  const rawHeaders = op['headers'] ?? {};
  if (!isJsonObject(rawHeaders as JsonValue))
    errors.push({ pointer: `${at}/headers`, message: 'must be an object of strings' });
  else {
    for (const [name, value] of Object.entries(rawHeaders as Record<string, unknown>)) {
      const lower = name.toLowerCase();
      if (typeof value !== 'string')
        errors.push({ pointer: `${at}/headers/${name}`, message: 'must be a string' });
      else if (!DROPPED_HEADERS.has(lower) && lower !== ctx.config.actorHeader) headers[lower] = value;
    }
  }
  for (const k of Object.keys(op)) {
    if (!['method', 'path', 'headers', 'body'].includes(k))
      errors.push({ pointer: `${at}/${k}`, message: 'is not a member of an operation' });
  }
  // As the wire carries it (UTF-8 bytes, read as latin1), so the route reads it as it read the batch's.
  if (actor !== null) headers[ctx.config.actorHeader] = headerBytes(actor);
  const body = op['body'] as JsonValue | undefined;
  if (body !== undefined && headers['content-type'] === undefined) {
    headers['content-type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  }
  headers['accept'] = 'application/json';
  const target = path !== undefined && path.refused === undefined ? path.canonical : '';
  return { method, path: target, headers, body };
}

/**
 * Operations address collections and resources; not the batch itself, the feed, or other apps'
 * routes. The path is checked as the router will read it (decoded, dot segments resolved), and the
 * operation is dispatched in that canonical form, so no spelling reaches a route unchecked.
 */
function operationPath(
  ctx: ResourceContext,
  raw: string,
  atomic: boolean,
): { canonical: string; refused?: undefined } | { refused: string } {
  const parsed = parsePath(raw);
  if (typeof parsed === 'string') return { refused: parsed };
  const prefix = ctx.prefix === '' ? [] : ctx.prefix.slice(1).split('/');
  const rest = parsed.segments.slice(prefix.length);
  const under = prefix.every((segment, i) => parsed.segments[i] === segment);
  if (rest.includes('_batch')) return { refused: 'a batch cannot contain another batch (_batch)' };
  if (!under || !ctx.config.collections.has(rest[0] ?? '') || rest.includes('_changes')) {
    return {
      refused: `must be the path of a collection or resource of this server (under ${ctx.prefix || '/'})`,
    };
  }
  // A lease takes effect at once and would outlive an atomic batch that fails (SPEC 3.9, 3.10).
  if (atomic && rest.includes('_lock')) {
    return {
      refused: 'a lease (_lock) cannot be part of an atomic batch; send it alone or with "atomic": false',
    };
  }
  return { canonical: parsed.canonical };
}

function malformed(errors: { pointer: string; message: string }[]): ProblemError {
  return new ProblemError('malformed-request', 'The batch document is not valid.', { errors });
}

/** Keeps the headers that describe the result. */
export function resultHeaders(
  headers: Record<string, string | string[] | number | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || TRANSPORT_HEADERS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}
