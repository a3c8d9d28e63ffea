/**
 * The operations the server applies atomically to the current state: transitions, increments
 * (SPEC 3.2, 3.6) and leases (SPEC 3.9). None needs the client's ETag: the state machine, the
 * bounds and the lease are checked by the server on the current version. They are retried with
 * their `Idempotency-Key`, which the server replays, so a lost answer never applies one twice.
 */
import { isJsonObject, type JsonObject } from '@truce/protocol';
import { isProblem } from '../errors/problem-error.js';
import { problemError } from '../http/problem.js';
import {
  expectOk,
  learnFromRefusal,
  ok,
  operation,
  remember,
  request,
  resourcePath,
  writeHeaders,
  type ClientContext,
} from './context.js';
import type { RequestOptions, WriteOptions } from './options.js';
import type { Snapshot } from './snapshot.js';

/** A lease (SPEC 3.9). */
export interface Lease {
  /** The secret to show in `Lock-Token`; the client sends it by itself while it holds the lease. */
  readonly token: string;
  /** Strictly increasing per resource across all its leases. */
  readonly fencing: number;
  readonly owner: string | null;
  /** RFC 3339. */
  readonly expiresAt: string;
}

/** Options of `lock`. */
export interface LockOptions extends RequestOptions {
  /** Lifetime in seconds, 1 to 3600 (server default 60). */
  readonly ttl?: number;
  /** Who holds it, shown to those refused (server default: the actor). */
  readonly owner?: string;
  /** Renew this lease instead of the one this client remembers. */
  readonly token?: string;
}

/** POST `/{c}/{id}/_transitions/{name}`, with an optional merge patch applied in the same write. */
export function transitionResource<T>(
  ctx: ClientContext,
  collection: string,
  id: string,
  name: string,
  patch: JsonObject | undefined,
  options?: WriteOptions,
): Promise<Snapshot<T>> {
  return action<T>(ctx, collection, id, `/_transitions/${encodeURIComponent(name)}`, patch, options);
}

/** POST `/{c}/{id}/_increment` `{ pointer, by }`. */
export function incrementResource<T>(
  ctx: ClientContext,
  collection: string,
  id: string,
  pointer: string,
  by: number,
  options?: WriteOptions,
): Promise<Snapshot<T>> {
  if (!Number.isFinite(by)) throw new TypeError('increment: by must be a finite number');
  return action<T>(ctx, collection, id, '/_increment', { pointer, by }, options);
}

function action<T>(
  ctx: ClientContext,
  collection: string,
  id: string,
  suffix: string,
  body: JsonObject | undefined,
  options: WriteOptions | undefined,
): Promise<Snapshot<T>> {
  const path = resourcePath(collection, id);
  return operation(ctx, options, async (scope) => {
    const headers = writeHeaders(ctx, path, options, { ifMatch: false, idempotent: true });
    const exchange = await request(ctx, scope, { method: 'POST', path: path + suffix, headers, body });
    if (!ok(exchange)) {
      learnFromRefusal(ctx, path, exchange);
      throw problemError(exchange.response, exchange.body);
    }
    return remember<T>(ctx, path, exchange);
  });
}

/** POST `/{c}/{id}/_lock`: takes a lease, or renews the one this client holds. */
export function lockResource(
  ctx: ClientContext,
  collection: string,
  id: string,
  options?: LockOptions,
): Promise<Lease> {
  const path = resourcePath(collection, id);
  return operation(ctx, options, async (scope) => {
    const token = options?.token ?? ctx.leases.get(path);
    const body: JsonObject = {};
    if (options?.ttl !== undefined) body['ttl'] = options.ttl;
    if (options?.owner !== undefined && token === undefined) body['owner'] = options.owner;
    const headers = writeHeaders(
      ctx,
      path,
      { ...options, ...(token ? { lockToken: token } : {}) },
      {
        ifMatch: false,
        idempotent: true,
      },
    );
    const exchange = expectOk(
      await request(ctx, scope, { method: 'POST', path: `${path}/_lock`, headers, body }),
    );
    const lease = exchange.body;
    if (!isJsonObject(lease) || typeof lease['token'] !== 'string') {
      throw new TypeError(`${path}/_lock: the answer is not a lease`);
    }
    ctx.leases.set(path, lease['token']);
    return lease as unknown as Lease;
  });
}

/** DELETE `/{c}/{id}/_lock`: releases the lease this client holds (or `token`'s). */
export function unlockResource(
  ctx: ClientContext,
  collection: string,
  id: string,
  options?: RequestOptions & { readonly token?: string },
): Promise<void> {
  const path = resourcePath(collection, id);
  return operation(ctx, options, async (scope) => {
    const token = options?.token ?? ctx.leases.get(path);
    if (token === undefined) throw new TypeError(`unlock: this client holds no lease on ${path}`);
    const headers = writeHeaders(
      ctx,
      path,
      { ...options, lockToken: token },
      { ifMatch: false, idempotent: true },
    );
    const exchange = await request(ctx, scope, { method: 'DELETE', path: `${path}/_lock`, headers });
    if (ctx.leases.get(path) === token) ctx.leases.delete(path);
    if (ok(exchange)) return;
    const error = problemError(exchange.response, exchange.body);
    // The first attempt released it and its answer was lost: the retry finds no lease of that token.
    if (exchange.uncertain && isProblem(error, 'lock-token-mismatch')) return;
    throw error;
  });
}
