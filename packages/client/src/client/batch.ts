/**
 * POST `/_batch` (SPEC 3.10): several operations in one request, all or nothing by default. Writes
 * to resources this client has seen carry its `If-Match`, as single writes do, unless the operation
 * names a precondition of its own; the results teach the client the new ETags.
 */
import { isJsonObject, type JsonValue } from '@truce/protocol';
import { problemError } from '../http/problem.js';
import { expectOk, operation, request, writeHeaders, type ClientContext } from './context.js';
import type { WriteOptions } from './options.js';
import { strongEtag } from './snapshot.js';

/** One operation of a batch: a request as it would be sent on its own. */
export interface BatchOperation {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** `/orders`, `/users/bo`, `/products/lamp/_increment`, ... with an optional query. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: JsonValue;
}

/** One operation's answer. */
export interface BatchResult {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: JsonValue;
}

/** Options of `batch`. */
export interface BatchOptions extends WriteOptions {
  /** All or nothing (default true); `false` applies each operation on its own. */
  readonly atomic?: boolean;
  /** Add the client's known `If-Match` and lease tokens to writes (default true). */
  readonly preconditions?: boolean;
}

const PRECONDITIONS = ['if-match', 'if-none-match', 'if-unmodified-since', 'truce-base'];
const RESOURCE = /^\/[^/?#]+\/[^/?#_][^/?#]*$/;
const RESOURCE_PREFIX = /^\/[^/?#_][^/?#]*\/[^/?#_][^/?#]*/;

/** Sends a batch; an atomic batch that fails throws the failing operation's problem (with `operationIndex`). */
export function sendBatch(
  ctx: ClientContext,
  operations: readonly BatchOperation[],
  options?: BatchOptions,
): Promise<BatchResult[]> {
  return operation(ctx, options, async (scope) => {
    const ops = options?.preconditions === false ? [...operations] : withKnownHeaders(ctx, operations);
    const headers = writeHeaders(
      ctx,
      '/_batch',
      { ...options, ifMatch: false },
      { ifMatch: false, idempotent: true },
    );
    delete headers['lock-token'];
    const exchange = expectOk(
      await request(ctx, scope, {
        method: 'POST',
        path: '/_batch',
        headers,
        body: { atomic: options?.atomic ?? true, operations: ops } as unknown as JsonValue,
      }),
    );
    const results = (exchange.body as { results?: unknown } | undefined)?.results;
    if (!Array.isArray(results)) throw problemError(exchange.response, exchange.body);
    results.forEach((result: BatchResult, i) => learn(ctx, ops[i], result));
    return results as BatchResult[];
  });
}

/**
 * The known `If-Match` goes on the first operation that touches each resource (its own URL or a
 * sub-route such as `_increment`): later operations see the earlier ones' effects, whose ETags the
 * client cannot know before the batch runs, and the first condition already covers them.
 */
function withKnownHeaders(ctx: ClientContext, ops: readonly BatchOperation[]): BatchOperation[] {
  const touched = new Set<string>();
  return ops.map((op) => {
    const path = op.path.split('?')[0] ?? op.path;
    const resource = RESOURCE_PREFIX.exec(path)?.[0];
    if (resource === undefined) return op;
    const first = !touched.has(resource);
    touched.add(resource);
    if (op.method === 'GET' || op.method === 'HEAD') return op;
    const given = Object.keys(op.headers ?? {}).map((name) => name.toLowerCase());
    const headers: Record<string, string> = { ...op.headers };
    const etag = ctx.cache.get(resource)?.etag;
    const own = path === resource && op.method !== 'POST';
    if (first && own && etag !== undefined && !given.some((name) => PRECONDITIONS.includes(name))) {
      headers['If-Match'] = etag;
    }
    const token = ctx.leases.get(resource);
    if (token !== undefined && !given.includes('lock-token')) headers['Lock-Token'] = token;
    return { ...op, headers };
  });
}

function learn(ctx: ClientContext, op: BatchOperation | undefined, result: BatchResult): void {
  if (op === undefined || op.method === 'GET' || op.method === 'HEAD') return;
  const path = op.path.split('?')[0] ?? op.path;
  if (!RESOURCE.test(path)) return;
  if (result.status === 204 && op.method === 'DELETE') ctx.cache.delete(path);
  const etag = strongEtag(result.headers?.['etag'] ?? null);
  if (result.status < 300 && etag !== null && isJsonObject(result.body))
    ctx.cache.set(path, etag, result.body);
}
