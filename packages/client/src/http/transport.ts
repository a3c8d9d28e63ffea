/**
 * One request, sent until it gets an answer worth returning (SPEC 4 retries): transient failures
 * (network errors, 408, 429, 500, 502, 503, 504, and `idempotency-in-flight`) are retried with full
 * jitter or as `Retry-After` says, within the operation's deadline. Unsafe methods are retried only
 * when they carry an `Idempotency-Key`, which stays the same on every attempt, so the server
 * applies the request once and replays its answer. 409 and 412 are answers, not failures: they are
 * returned to the caller, never sent again from here.
 */
import { backoffFor, type RetryPolicy } from '../retry/policy.js';
import { retryAfterMs } from '../retry/retry-after.js';
import { parseBody } from './problem.js';
import type { OperationScope, Timers } from './timing.js';

/** Headers sent with every request: fixed, or computed for each attempt (a token that refreshes). */
export type HeaderSource = HeadersInit | (() => HeadersInit | Promise<HeadersInit>);

/** What the transport needs from the client. */
export interface TransportConfig {
  readonly baseUrl: string;
  readonly fetch: (input: string, init: RequestInit) => Promise<Response>;
  readonly headers: HeaderSource | undefined;
  readonly retry: RetryPolicy;
  readonly timers: Timers;
}

/** A request to send. `path` starts with `/`, is encoded, and may carry a query. */
export interface Outgoing {
  readonly method: string;
  readonly path: string;
  /** Lower-case names; they win over the client's headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Serialised as JSON. */
  readonly body?: unknown;
}

/** An answer, with its body read. */
export interface Exchange {
  readonly response: Response;
  readonly status: number;
  /** The parsed body: JSON for JSON media types, else text; undefined when empty. */
  readonly body: unknown;
  readonly attempts: number;
  /**
   * An earlier attempt of this request may have been applied although its answer never arrived
   * (a connection lost after sending, a gateway's 502 or 504, `idempotency-in-flight`, the server's
   * own `outcome-unknown`). A refusal
   * such as `stale-write` may then be the request's own earlier success (lost acknowledgement).
   */
  readonly uncertain: boolean;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Statuses after which the request may have been applied upstream all the same. */
const MAYBE_APPLIED = new Set([502, 504]);

/** Sends `outgoing`, retrying transient failures; rejects only with network errors or an abort. */
export async function send(
  config: TransportConfig,
  scope: OperationScope,
  outgoing: Outgoing,
): Promise<Exchange> {
  const unsafe = !SAFE.has(outgoing.method);
  const retriable = !unsafe || outgoing.headers?.['idempotency-key'] !== undefined;
  const body = outgoing.body === undefined ? undefined : JSON.stringify(outgoing.body);
  let uncertain = false;
  for (let attempt = 1; ; attempt++) {
    scope.signal.throwIfAborted();
    const headers = await buildHeaders(config.headers, outgoing.headers, body !== undefined);
    let response: Response;
    try {
      response = await config.fetch(config.baseUrl + outgoing.path, {
        method: outgoing.method,
        headers,
        ...(body === undefined ? {} : { body }),
        ...(scope.fetchSignal === undefined ? {} : { signal: scope.fetchSignal }),
      });
    } catch (error) {
      scope.signal.throwIfAborted();
      // The connection failed before an answer: the request may or may not have been applied.
      if (unsafe) uncertain = true;
      const wait = retriable ? nextWait(config, scope, attempt, undefined, null) : undefined;
      if (wait === undefined) throw error;
      await config.timers.sleep(wait, scope.signal);
      continue;
    }
    const text = await response.text();
    const parsed = parseBody(text, response.headers.get('content-type'));
    const exchange = { response, status: response.status, body: parsed, attempts: attempt, uncertain };
    if (!isTransient(config.retry, response.status, parsed)) return exchange;
    if (unsafe && (MAYBE_APPLIED.has(response.status) || response.status === 409 || unknown(parsed)))
      uncertain = true;
    const wait = retriable ? nextWait(config, scope, attempt, response.status, response) : undefined;
    if (wait === undefined) return { ...exchange, uncertain };
    await config.timers.sleep(wait, scope.signal);
  }
}

/**
 * How long to wait before the next attempt, or `undefined` when there is none: no attempts left, a
 * `Retry-After` beyond the cap, or a wait that would end past the deadline (failing now says more
 * than a timeout later).
 */
function nextWait(
  config: TransportConfig,
  scope: OperationScope,
  attempt: number,
  status: number | undefined,
  response: Response | null,
): number | undefined {
  const { retry, timers } = config;
  if (attempt >= retry.attempts) return undefined;
  const asked =
    response === null
      ? undefined
      : retryAfterMs(response.headers.get('retry-after'), response.headers.get('date'), timers.now());
  if (asked !== undefined && asked > retry.capMs) return undefined;
  const wait = asked ?? backoffFor(retry, attempt, status, timers.random);
  return timers.now() + wait > scope.deadline ? undefined : wait;
}

/** The server's own `outcome-unknown` (503): the write may have been applied. */
function unknown(body: unknown): boolean {
  return (body as { code?: unknown } | undefined)?.code === 'outcome-unknown';
}

function isTransient(policy: RetryPolicy, status: number, body: unknown): boolean {
  if (policy.statuses.includes(status)) return true;
  // The same key's first request is still running (SPEC 3.8): wait for its answer, then it replays.
  return status === 409 && (body as { code?: unknown } | undefined)?.code === 'idempotency-in-flight';
}

async function buildHeaders(
  source: HeaderSource | undefined,
  own: Readonly<Record<string, string>> | undefined,
  hasBody: boolean,
): Promise<Headers> {
  const headers = new Headers({ accept: 'application/json, application/problem+json' });
  if (hasBody) headers.set('content-type', 'application/json');
  const shared = typeof source === 'function' ? await source() : source;
  if (shared !== undefined) new Headers(shared).forEach((value, name) => headers.set(name, value));
  for (const [name, value] of Object.entries(own ?? {})) headers.set(name, value);
  return headers;
}
