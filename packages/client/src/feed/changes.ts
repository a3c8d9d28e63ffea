/**
 * `changes`: the change feed (SPEC 3.11) as an async iterator over its Server-Sent Events stream,
 * resumed from the last event id whenever the connection drops, so a consumer sees every change
 * once, in commit order, whatever happens to the connection.
 */
import { isProblem } from '../errors/problem-error.js';
import { problemError } from '../http/problem.js';
import { backoffFor } from '../retry/policy.js';
import { lower } from '../client/read.js';
import { resourcePath, type ClientContext } from '../client/context.js';
import type { RequestOptions } from '../client/options.js';
import { readEventStream } from './sse.js';

/** One committed write (SPEC 3.11). */
export interface Change<T, C extends string = string> {
  readonly seq: number;
  readonly collection: C;
  readonly id: string;
  readonly op: 'create' | 'update' | 'delete';
  readonly version: number;
  readonly etag: string;
  readonly at: string;
  readonly by: string | null;
  /** The document's fields after the write; null for a delete. */
  readonly doc: T | null;
}

/** Options of `changes`. */
export interface ChangesOptions extends Omit<RequestOptions, 'timeout'> {
  /** Start after this sequence number, or `'now'` for changes from now on (default 0: everything). */
  readonly since?: number | 'now';
  /** Reconnect after a dropped connection (default true); `false` ends the iteration instead. */
  readonly reconnect?: boolean;
}

/** Reconnections are paced by the stream's `retry:` (1 s from Truce), growing while they fail. */
const DEFAULT_RETRY_MS = 1000;

/** The feed of one collection (or of all, without one). Ends only on `break`, abort, or an error answer. */
export async function* followChanges<T>(
  ctx: ClientContext,
  collection: string | undefined,
  options?: ChangesOptions,
): AsyncGenerator<Change<T>, void, undefined> {
  const path = (collection === undefined ? '' : resourcePath(collection)) + '/_changes';
  // Where to go on from: the id of the last event seen, or the position the server said it started at.
  let position = options?.since === undefined ? undefined : String(options.since);
  let retryMs = DEFAULT_RETRY_MS;
  let failures = 0;
  for (;;) {
    const controller = new AbortController();
    const onAbort = () => controller.abort(options?.signal?.reason);
    options?.signal?.throwIfAborted();
    options?.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const headers = new Headers({ accept: 'text/event-stream', ...lower(options?.headers) });
      const shared = ctx.transport.headers;
      const extra = typeof shared === 'function' ? await shared() : shared;
      if (extra !== undefined) new Headers(extra).forEach((v, k) => headers.has(k) || headers.set(k, v));
      if (position !== undefined) headers.set('last-event-id', position);
      const response = await ctx.transport.fetch(ctx.transport.baseUrl + path, {
        method: 'GET',
        headers,
        signal: controller.signal,
      });
      if (!response.ok || response.body === null) {
        const text = await response.text();
        const error = problemError(response, parseMaybe(text));
        if (!ctx.transport.retry.statuses.includes(response.status)) throw error;
        failures++;
      } else {
        failures = 0;
        for await (const item of readEventStream(response.body)) {
          if (item.kind === 'retry') retryMs = item.ms;
          else if (item.kind === 'comment') {
            // Truce says where a stream starts (`: feed from 42`), which pins down `since=now`.
            const start = /^feed from (\d+)$/.exec(item.text);
            if (start) position = start[1];
          } else if (item.type === 'change') {
            const change = JSON.parse(item.data) as Change<T>;
            position = item.id ?? String(change.seq);
            yield change;
          }
        }
      }
    } catch (error) {
      if (options?.signal?.aborted) return;
      if (isProblem(error)) throw error;
      failures++;
    } finally {
      options?.signal?.removeEventListener('abort', onAbort);
      controller.abort();
    }
    if (options?.reconnect === false) return;
    const wait =
      failures === 0
        ? retryMs
        : retryMs + backoffFor(ctx.transport.retry, failures, undefined, ctx.timers.random);
    try {
      await ctx.timers.sleep(wait, options?.signal ?? new AbortController().signal);
    } catch {
      return;
    }
  }
}

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
