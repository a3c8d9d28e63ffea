/**
 * What every operation of one client shares: the transport, the ETag cache, the leases it holds,
 * and the settings; plus the helpers operations are written with.
 */
import {
  cloneJson,
  compileMergePolicy,
  isJsonObject,
  type CompiledMergePolicy,
  type JsonObject,
} from '@truce/protocol';
import { problemError } from '../http/problem.js';
import { openScope, REAL_TIMERS, type OperationScope, type Timers } from '../http/timing.js';
import { send, type Exchange, type Outgoing, type TransportConfig } from '../http/transport.js';
import { DEFAULT_CONFLICT_POLICY, DEFAULT_RETRY, type ConflictPolicy } from '../retry/policy.js';
import type { Resolver } from '../update/resolve.js';
import { ResourceCache } from './cache.js';
import type { ClientOptions, RequestOptions, UpdateMode, WriteOptions } from './options.js';
import { strongEtag, type Snapshot } from './snapshot.js';

/** One client's shared state. */
export interface ClientContext {
  readonly transport: TransportConfig;
  readonly timers: Timers;
  readonly cache: ResourceCache;
  /** Lease tokens this client holds, by resource path. */
  readonly leases: Map<string, string>;
  readonly conflicts: ConflictPolicy;
  readonly resolve: Resolver<never>;
  readonly mode: UpdateMode;
  /** The probe of `mode: 'auto'`, once per client. */
  detected: Promise<'truce-base' | 'if-match'> | undefined;
  readonly policies: ReadonlyMap<string, CompiledMergePolicy>;
  /** Policies read from the server (`x-truce-merge`), by collection. */
  readonly discoveredPolicies: Map<string, Promise<CompiledMergePolicy | undefined>>;
  readonly timeoutMs: number | undefined;
  readonly idempotency: boolean;
}

/** Builds a client's context from its options. */
export function contextOf(options: ClientOptions): ClientContext {
  // A path such as '/api' is fine where fetch resolves it against a page (a browser app next to its API).
  if (typeof options.baseUrl !== 'string') throw new TypeError('createClient: baseUrl must be a URL string');
  const timers: Timers = { ...REAL_TIMERS, ...options.timers };
  const fetchImpl = options.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
  const policies = new Map<string, CompiledMergePolicy>();
  for (const [name, collection] of Object.entries(options.collections ?? {})) {
    if (collection.merge !== undefined) policies.set(name, compileMergePolicy(collection.merge));
  }
  const { resolve, mode, ...conflictPolicy } = options.conflicts ?? {};
  return {
    transport: {
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      fetch: fetchImpl,
      headers: options.headers,
      retry:
        options.retry === false ? { ...DEFAULT_RETRY, attempts: 1 } : { ...DEFAULT_RETRY, ...options.retry },
      timers,
    },
    timers,
    cache: new ResourceCache(options.cacheSize ?? 1000),
    leases: new Map(),
    conflicts: { ...DEFAULT_CONFLICT_POLICY, ...conflictPolicy },
    resolve: resolve ?? 'rerun',
    mode: mode ?? 'auto',
    detected: undefined,
    policies,
    discoveredPolicies: new Map(),
    timeoutMs: options.timeout,
    idempotency: options.idempotency ?? true,
  };
}

/** Runs `body` as one operation: one signal and one deadline for all it does. */
export async function operation<R>(
  ctx: ClientContext,
  options: RequestOptions | undefined,
  body: (scope: OperationScope) => Promise<R>,
): Promise<R> {
  const scope = openScope(options?.signal, options?.timeout ?? ctx.timeoutMs, ctx.timers.now());
  try {
    return await body(scope);
  } finally {
    scope.close();
  }
}

/** Sends one request of an operation. */
export function request(ctx: ClientContext, scope: OperationScope, outgoing: Outgoing): Promise<Exchange> {
  return send(ctx.transport, scope, outgoing);
}

/** `/{collection}/{id}`, each segment percent-encoded. */
export function resourcePath(collection: string, id?: string): string {
  const base = `/${encodeURIComponent(collection)}`;
  return id === undefined ? base : `${base}/${encodeURIComponent(id)}`;
}

/** Whether an answer is a success (2xx). */
export function ok(exchange: Exchange): boolean {
  return exchange.status >= 200 && exchange.status < 300;
}

/** Throws the answer's problem unless it is a success. */
export function expectOk(exchange: Exchange): Exchange {
  if (!ok(exchange)) throw problemError(exchange.response, exchange.body);
  return exchange;
}

/** A snapshot of a representation answer, remembered for the resource at `path`. */
export function remember<T>(ctx: ClientContext, path: string, exchange: Exchange): Snapshot<T> {
  const data = exchange.body;
  if (!isJsonObject(data)) {
    throw new TypeError(`${path}: expected a JSON object, got ${typeof data} (status ${exchange.status})`);
  }
  const etag = strongEtag(exchange.response.headers.get('etag'));
  // The cache keeps its own copy: callers may change what they were given.
  if (etag !== null) ctx.cache.set(path, etag, cloneJson(data));
  else ctx.cache.delete(path);
  return { data, etag } as Snapshot<T>;
}

/** What a refusal taught about the current state (`stale-write` and friends carry it). */
export function learnFromRefusal(ctx: ClientContext, path: string, exchange: Exchange): void {
  if (exchange.status === 404 || exchange.status === 410) {
    ctx.cache.delete(path);
    return;
  }
  const body = exchange.body as { current?: unknown; currentEtag?: unknown } | undefined;
  if (isJsonObject(body?.current) && typeof body.currentEtag === 'string') {
    ctx.cache.set(path, body.currentEtag, cloneJson(body.current));
  }
}

/** The headers of a write: If-Match, Idempotency-Key and Lock-Token as the options and the client say. */
export function writeHeaders(
  ctx: ClientContext,
  path: string,
  options: WriteOptions | undefined,
  defaults: { ifMatch: boolean; idempotent: boolean },
): Record<string, string> {
  const headers: Record<string, string> = {};
  const ifMatch = options?.ifMatch ?? (defaults.ifMatch ? ctx.cache.get(path)?.etag : undefined);
  if (typeof ifMatch === 'string') headers['if-match'] = ifMatch;
  const key = options?.idempotencyKey ?? (ctx.idempotency && defaults.idempotent ? newKey() : false);
  if (typeof key === 'string') headers['idempotency-key'] = key;
  const token = options?.lockToken ?? ctx.leases.get(path);
  if (token !== undefined) headers['lock-token'] = token;
  for (const [name, value] of Object.entries(options?.headers ?? {})) headers[name.toLowerCase()] = value;
  return headers;
}

/** Hex digits of every byte value, so that a key is spelt without a string per byte. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
/** Random bytes drawn in bulk: one `getRandomValues` call (at most 65,536 bytes) serves 256 keys. */
const POOL = new Uint8Array(4096);
let poolAt = POOL.length;

/** A fresh Idempotency-Key: 128 random bits in hex (crypto.randomUUID needs a secure context). */
export function newKey(): string {
  if (poolAt === POOL.length) {
    globalThis.crypto.getRandomValues(POOL);
    poolAt = 0;
  }
  let key = '';
  // Each byte is used once, then the pool is refilled: no two keys share random bits.
  for (const end = poolAt + 16; poolAt < end; poolAt++) key += HEX[POOL[poolAt]!]!;
  return key;
}

/** Reads the resource at `path` (no cache): its snapshot, or null when it does not exist. */
export async function readCurrent<T>(
  ctx: ClientContext,
  scope: OperationScope,
  path: string,
): Promise<Snapshot<T> | null> {
  const exchange = await request(ctx, scope, { method: 'GET', path });
  if (exchange.status === 404 || exchange.status === 410) {
    ctx.cache.delete(path);
    return null;
  }
  return remember<T>(ctx, path, expectOk(exchange));
}

/** The problem's `current` and `currentEtag` as a snapshot, when it carries both. */
export function currentFromProblem<T>(body: unknown): Snapshot<T> | undefined {
  const b = body as { current?: unknown; currentEtag?: unknown } | undefined;
  if (isJsonObject(b?.current) && typeof b.currentEtag === 'string') {
    return { data: b.current, etag: b.currentEtag } as Snapshot<T>;
  }
  return undefined;
}

/** Re-exported for operations: a JSON object type guard. */
export type { JsonObject };
