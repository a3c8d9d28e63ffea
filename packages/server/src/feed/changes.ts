import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import {
  header,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from '../resources/context.js';
import type { ChangeRecord, Store } from '../store/types.js';

/** How the change feed paces itself; tests shorten the intervals. */
export interface FeedTiming {
  /** A comment line this often when nothing else was sent (SPEC 3.11: 15 s). */
  readonly heartbeatMs: number;
  /** How often a caught-up stream looks for commits made by other processes. */
  readonly pollMs: number;
}

export const DEFAULT_FEED_TIMING: FeedTiming = { heartbeatMs: 15_000, pollMs: 1_000 };

/** Changes read from the store per page; a stream never holds more than one page in memory. */
const PAGE = 100;

/** One change as the feed shows it (SPEC 3.11). */
function changeEvent(c: ChangeRecord): Record<string, unknown> {
  return {
    seq: c.seq,
    collection: c.collection,
    id: c.id,
    op: c.op,
    version: c.version,
    etag: c.etag,
    at: new Date(c.at).toISOString(),
    by: c.by,
    doc: c.doc,
  };
}

/** Where a reader starts: `Last-Event-ID` (a resuming stream), else `?since=` (a sequence or `now`), else 0. */
async function startingPoint(store: Store, input: OperationInput, stream: boolean): Promise<number> {
  // Last-Event-ID is the EventSource resumption header; a JSON poll says where it is with ?since=.
  const resume = stream ? header(input.headers, 'last-event-id') : undefined;
  const sinceParam = input.query['since'];
  const raw = resume ?? (Array.isArray(sinceParam) ? sinceParam[sinceParam.length - 1] : sinceParam);
  if (raw === 'now') return store.lastSeq();
  const since = raw === undefined || raw === '' ? 0 : parsedSince(raw, resume !== undefined);
  // SPEC 3.11: a position older than the retained feed cannot be answered without gaps.
  const floor = await store.feedFloor();
  if (since < floor) {
    throw new ProblemError(
      'history-expired',
      `Changes after ${since} are no longer all kept; the feed is complete from ${floor + 1} on. Re-read what you mirror, then follow the feed from since=${floor}.`,
      { oldestAvailable: floor + 1 },
    );
  }
  return since;
}

function parsedSince(raw: string, resume: boolean): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(raw)) {
    const where = resume ? { header: 'Last-Event-ID' } : { parameter: 'since' };
    throw new ProblemError(
      'malformed-request',
      `${resume ? 'Last-Event-ID' : 'since'} must be a sequence number or "now".`,
      {
        errors: [{ ...where, message: 'must be a non-negative integer or "now"' }],
      },
    );
  }
  return Number(raw);
}

/** GET `/_changes` and `/{c}/_changes` as JSON: `{ results, last }`, paged by `?limit=`. */
export async function readChanges(
  ctx: ResourceContext,
  collection: CollectionConfig | undefined,
  input: OperationInput,
): Promise<OperationResult> {
  const since = await startingPoint(ctx.store, input, false);
  const limitParam = input.query['limit'];
  const limitText = Array.isArray(limitParam) ? limitParam[limitParam.length - 1] : limitParam;
  const limit = limitText === undefined ? 100 : Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
    throw new ProblemError('malformed-request', 'limit must be an integer from 1 to 1000.', {
      errors: [{ parameter: 'limit', message: 'must be an integer from 1 to 1000' }],
    });
  }
  const records = await ctx.store.changes({ since, limit, collection: collection?.name });
  const last = records.length > 0 ? records[records.length - 1]!.seq : since;
  return {
    status: 200,
    headers: { 'cache-control': 'no-store' },
    body: { results: records.map(changeEvent), last },
  };
}

/** True when the client asked for Server-Sent Events (a HEAD gets the JSON answer's headers). */
export function wantsEventStream(input: OperationInput): boolean {
  return input.method === 'GET' && /text\/event-stream/i.test(header(input.headers, 'accept') ?? '');
}

/**
 * The change feed as Server-Sent Events. The stream pulls one page at a time from the store and
 * only when the socket has taken the previous one (it waits for `drain`), so a slow consumer holds
 * at most a page and the socket's buffer in memory however far behind it is.
 */
export async function streamChanges(
  ctx: ResourceContext,
  collection: CollectionConfig | undefined,
  input: OperationInput,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  let cursor = await startingPoint(ctx.store, input, true);
  reply.hijack();
  const res = reply.raw;
  const stop = new AbortController();
  ctx.streams.add(stop);
  request.raw.once('close', () => stop.abort());
  res.once('close', () => stop.abort());
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let lastSent = Date.now();
  const send = async (text: string) => {
    lastSent = Date.now();
    if (!res.write(text)) await drained(res, stop.signal);
  };
  try {
    await send(`retry: 1000\n: feed from ${cursor}\n\n`);
    while (!stop.signal.aborted) {
      const page = await ctx.store.changes({ since: cursor, limit: PAGE, collection: collection?.name });
      for (const change of page) {
        if (stop.signal.aborted) break;
        await send(`id: ${change.seq}\nevent: change\ndata: ${JSON.stringify(changeEvent(change))}\n\n`);
        cursor = change.seq;
      }
      if (page.length === PAGE) continue;
      const quiet = Date.now() - lastSent;
      if (quiet >= ctx.feed.heartbeatMs) {
        await send(': heartbeat\n\n');
        continue;
      }
      await ctx.notifier.wait(Math.min(ctx.feed.pollMs, ctx.feed.heartbeatMs - quiet), stop.signal);
    }
  } catch (error) {
    request.log.warn({ err: error }, 'change feed stream ended by an error');
  } finally {
    ctx.streams.delete(stop);
    if (!res.writableEnded) res.end();
  }
}

function drained(res: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.removeListener('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Prunes the feed down to the configured number of changes, in slices, yielding between them. */
export async function pruneFeed(ctx: ResourceContext): Promise<number> {
  const upTo = (await ctx.store.lastSeq()) - ctx.config.changeFeedKeep;
  if (upTo <= (await ctx.store.feedFloor())) return 0;
  let total = 0;
  for (;;) {
    const removed = await ctx.store.pruneChanges(upTo, 1000);
    total += removed;
    if (removed < 1000) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
