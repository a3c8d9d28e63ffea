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
import { admitStream, DEFAULT_STREAM_LIMITS, type StreamLimits } from './stream-limits.js';
import { fillPage, jsonStream, type FilledPage } from '../resources/paging.js';

/** How the change feed paces and bounds itself; tests shorten the intervals and lower the limits. */
export interface FeedTiming extends StreamLimits {
  /** A comment line this often when nothing else was sent (SPEC 3.11: 15 s). */
  readonly heartbeatMs: number;
  /** How often a caught-up stream looks for commits made by other processes. */
  readonly pollMs: number;
}

export const DEFAULT_FEED_TIMING: FeedTiming = {
  heartbeatMs: 15_000,
  pollMs: 1_000,
  ...DEFAULT_STREAM_LIMITS,
};

/** Changes per page of a stream (also bounded in bytes); a stream holds at most one page in memory. */
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

/** One change as a Server-Sent Event. */
function eventText(c: ChangeRecord): string {
  return `id: ${c.seq}\nevent: change\ndata: ${JSON.stringify(changeEvent(c))}\n\n`;
}

/** Where a reader starts: `Last-Event-ID` (a resuming stream), else `?since=` (a sequence or `now`), else 0. */
async function startingPoint(store: Store, input: OperationInput, stream: boolean): Promise<number> {
  // Last-Event-ID is the EventSource resumption header; a JSON poll says where it is with ?since=.
  const resume = stream ? header(input.headers, 'last-event-id') : undefined;
  const sinceParam = input.query['since'];
  const raw = resume ?? (Array.isArray(sinceParam) ? sinceParam[sinceParam.length - 1] : sinceParam);
  if (raw === 'now') return store.lastSeq();
  const since = raw === undefined || raw === '' ? 0 : parsedSince(raw, resume !== undefined);
  // A position the feed has not reached is a mistake (a sequence from another database, a typo):
  // accepted, it would silently skip every change up to it. One past the newest is allowed: it is
  // where a reader that remembers "the next one I want" stands.
  if (since > 0) {
    const newest = await store.lastSeq();
    if (since > newest + 1) {
      throw badSince(
        resume !== undefined,
        `${resume !== undefined ? 'Last-Event-ID' : 'since'} ${since} is past the newest change (${newest}).`,
        `must be at most ${newest + 1}, the newest sequence number plus one`,
      );
    }
  }
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

/** Digits only and exact: beyond 2^53 - 1 a number would silently round to another position. */
function parsedSince(raw: string, resume: boolean): number {
  const since = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(since)) {
    throw badSince(
      resume,
      `${resume ? 'Last-Event-ID' : 'since'} must be a sequence number or "now".`,
      'must be a non-negative integer (at most 9007199254740991) or "now"',
    );
  }
  return since;
}

function badSince(resume: boolean, detail: string, message: string): ProblemError {
  const where = resume ? { header: 'Last-Event-ID' } : { parameter: 'since' };
  return new ProblemError('malformed-request', detail, { errors: [{ ...where, message }] });
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
  const page = await changesPage(ctx.store, collection, since, limit);
  const last = page.last?.seq ?? since;
  return {
    status: 200,
    // JSON here, an event stream for Accept: text/event-stream (RFC 9110 12.5.5).
    headers: { 'cache-control': 'no-store', vary: 'Accept' },
    body: jsonStream('{"results":[', page.texts, `],"last":${last}}`),
  };
}

/** Changes after `since`, at most `limit` of them and {@link PAGE_BYTES} bytes (at least one). */
function changesPage(
  store: Store,
  collection: CollectionConfig | undefined,
  since: number,
  limit: number,
  render: (change: ChangeRecord) => string = (change) => JSON.stringify(changeEvent(change)),
): Promise<FilledPage<ChangeRecord>> {
  let after = since;
  return fillPage<ChangeRecord>({
    limit,
    read: async (count) => {
      const items = await store.changes({ since: after, limit: count, collection: collection?.name });
      after = items[items.length - 1]?.seq ?? after;
      return { items, more: items.length === count };
    },
    render,
  });
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
  const release = admitStream(ctx.feed, ctx.streams.size, request.raw.socket);
  reply.hijack();
  const res = reply.raw;
  const stop = new AbortController();
  ctx.streams.add(stop);
  request.raw.once('close', () => stop.abort());
  res.once('close', () => stop.abort());
  // A Vary already set on the raw response (Origin, by the CORS layer) is kept next to ours.
  const prior = res.getHeader('vary');
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    vary: prior === undefined ? 'Accept' : `Accept, ${String(prior)}`,
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
      // A page is bounded in bytes as well as in changes, so a stream that waits for a slow
      // reader holds at most about PAGE_BYTES of changes.
      const page = await changesPage(ctx.store, collection, cursor, PAGE, eventText);
      for (const text of page.texts) {
        if (stop.signal.aborted) break;
        await send(text);
      }
      cursor = page.last?.seq ?? cursor;
      if (page.more) continue;
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
    release();
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
