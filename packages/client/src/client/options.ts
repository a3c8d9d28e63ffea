/**
 * The options of {@link createClient} and of each call.
 */
import type { HeaderSource } from '../http/transport.js';
import type { Timers } from '../http/timing.js';
import type { ConflictPolicy, RetryPolicy } from '../retry/policy.js';
import type { CollectionOptions } from '../types/schema.js';
import type { Resolver } from '../update/resolve.js';

/**
 * How `update` sends its edits. `'truce-base'` sends `Truce-Base` and lets the server merge
 * (SPEC 3.7); `'if-match'` sends `If-Match` and merges on the client, which works with any RFC 9110
 * server that sends strong ETags; `'auto'` (the default) asks the server once, through its
 * OpenAPI document, whether it understands `Truce-Base`, and uses `If-Match` when it cannot tell.
 */
export type UpdateMode = 'auto' | 'truce-base' | 'if-match';

/** How conflicts met by `update` are handled. */
export interface ConflictOptions extends Partial<ConflictPolicy> {
  /** The default resolver of `update` ({@link Resolver}; default `'rerun'`). */
  readonly resolve?: Resolver<never>;
  /** See {@link UpdateMode}; default `'auto'`. */
  readonly mode?: UpdateMode;
}

/** The options of {@link createClient}. */
export interface ClientOptions {
  /**
   * The server's URL, with the prefix its routes live under: `https://api.example.com/v1`; in a
   * browser page, a path on the page's origin (`/api`) works too.
   */
  readonly baseUrl: string;
  /** Headers for every request (credentials, the actor header), or a function computing them. */
  readonly headers?: HeaderSource;
  /** The `fetch` to use; default the global one. */
  readonly fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Retries of transient failures (SPEC 4); `false` sends every request once. */
  readonly retry?: Partial<RetryPolicy> | false;
  /** Conflict handling of `update`. */
  readonly conflicts?: ConflictOptions;
  /**
   * What the client knows about collections: a JSON Schema per collection types its documents,
   * and `merge` (as in truce.yaml) makes the client's own merges match the server's.
   */
  readonly collections?: { readonly [name: string]: CollectionOptions };
  /** A deadline for each operation, retries and conflict rounds included, in milliseconds. */
  readonly timeout?: number;
  /** Send an `Idempotency-Key` with every unsafe request (default true; SPEC 4). */
  readonly idempotency?: boolean;
  /** How many resources' ETags to remember (default 1000; 0 remembers none). */
  readonly cacheSize?: number;
  /** Replaces the clock, the sleeps and the jitter: for tests and custom schedulers. */
  readonly timers?: Partial<Timers>;
}

/** Options every call takes. */
export interface RequestOptions {
  /** Aborts the whole operation: every attempt, wait and conflict round. */
  readonly signal?: AbortSignal;
  /** This operation's deadline in milliseconds (overrides the client's `timeout`). */
  readonly timeout?: number;
  /** Extra headers for this call. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Options of calls that write. */
export interface WriteOptions extends RequestOptions {
  /**
   * The `If-Match` to send: an ETag, or `false` for none. Default: the ETag this client last saw
   * for the resource (none if it has seen none) for `replace`, `patch` and `delete`; none for
   * `transition` and `increment`, which the server applies atomically to the current state.
   */
  readonly ifMatch?: string | false;
  /** The key to send; default a new random one per operation, kept across its retries. `false`: none. */
  readonly idempotencyKey?: string | false;
  /** The lease's token; default the token of a lease this client holds on the resource. */
  readonly lockToken?: string;
}
