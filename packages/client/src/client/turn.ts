/**
 * `turn`: one turn of a conversation kept by a Truce gateway's AI route (docs/ai.md,
 * "Conversations"), with `update`'s loop for it. A turn continues the version this client read;
 * when another turn continued it first (412 `turn-conflict`), the conversation is read again and
 * the turn re-run on the new history: the same message by default, or what `onConflict` makes of
 * it after seeing the turn that won.
 */
import { isJsonObject, type JsonObject } from '@truce/protocol';
import { problemError } from '../http/problem.js';
import { ok, operation, readCurrent, request, resourcePath, type ClientContext } from './context.js';
import type { RequestOptions } from './options.js';
import type { Snapshot } from './snapshot.js';

/** A message's content: text, or Chat Completions content parts. */
export type TurnContent = string | readonly JsonObject[];

/** Options of `turn`. */
export interface TurnOptions extends RequestOptions {
  /** The conversations' path under the client's base URL (default `conversations`). */
  readonly collection?: string;
  /** The version to continue; default the one this client last read. */
  readonly ifMatch?: string;
  /** Model options of the turn (`max_tokens`, `temperature`, `top_p`, `stop`, `seed`). */
  readonly params?: JsonObject;
  /**
   * Another turn continued the version first: return the content to send on the new history, or
   * `'abort'` to give up with the `turn-conflict` error. Default: send the same content again.
   */
  readonly onConflict?: (conflict: {
    readonly won: JsonObject | null;
    readonly current: Snapshot<JsonObject>;
  }) => TurnContent | 'abort' | Promise<TurnContent | 'abort'>;
  /** Rounds in all, the first included (default 5). */
  readonly maxRounds?: number;
}

/** The stored turn and the conversation's new version. */
export interface TurnResult {
  readonly conversation: string;
  /** The version to continue next. */
  readonly etag: string;
  readonly turn: JsonObject;
  readonly usage: {
    readonly prompt_tokens: number;
    readonly completion_tokens: number;
    readonly total_tokens: number;
  };
}

/** POST `/{collection}/{id}/turns` with If-Match, re-run on `turn-conflict`. */
export function addTurn(
  ctx: ClientContext,
  id: string,
  content: TurnContent,
  options: TurnOptions = {},
): Promise<TurnResult> {
  const path = resourcePath(options.collection ?? 'conversations', id);
  const rounds = Math.max(1, options.maxRounds ?? 5);
  return operation(ctx, options, async (scope) => {
    let message = content;
    let etag: string | undefined = options.ifMatch ?? ctx.cache.get(path)?.etag;
    for (let round = 1; ; round++) {
      if (etag === undefined) {
        const read = await readCurrent<JsonObject>(ctx, scope, path);
        if (!read?.etag) throw new TypeError(`turn: no conversation with an ETag at ${path}`);
        etag = read.etag;
      }
      const exchange = await request(ctx, scope, {
        method: 'POST',
        path: `${path}/turns`,
        headers: { 'if-match': etag, ...options.headers },
        body: { ...options.params, content: message as JsonObject[] | string } as JsonObject,
      });
      if (ok(exchange)) {
        // The client has the new version's ETag but not its document: what it cached is stale.
        ctx.cache.delete(path);
        return exchange.body as unknown as TurnResult;
      }
      const problem = exchange.body as { code?: unknown; won?: unknown } | undefined;
      if (exchange.status !== 412 || problem?.code !== 'turn-conflict' || round >= rounds) {
        throw problemError(exchange.response, exchange.body);
      }
      const current = await readCurrent<JsonObject>(ctx, scope, path);
      if (!current) throw problemError(exchange.response, exchange.body);
      const won = isJsonObject(problem.won) ? problem.won : null;
      const next = options.onConflict ? await options.onConflict({ won, current }) : message;
      if (next === 'abort') throw problemError(exchange.response, exchange.body);
      message = next;
      etag = current.etag ?? undefined;
    }
  });
}
