import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { CallLog, StoredCall } from '../calls/log.js';
import { gatewayProblem } from '../problems/answer.js';
import { badParameter } from './app.js';

/** How the live tail reads the call log. */
export interface CallStreamOptions {
  /** How often the log is read for new calls while a stream is open. */
  readonly pollMs: number;
  /** Streams open at once; more get 503 `busy`. */
  readonly maxStreams: number;
  /** Calls sent to one stream per read at most; the rest are counted in a comment line. */
  readonly perRead: number;
}

const DEFAULTS: CallStreamOptions = { pollMs: 1000, maxStreams: 20, perRead: 200 };
/** A stream whose client has not taken this much is dropped rather than buffered without end. */
const MAX_BUFFERED = 1024 * 1024;
/** Calls may reach the log a little out of order (batches, workers): each read looks back this far. */
const OVERLAP_MS = 3000;
const PAGE = 1000;
const MAX_PAGES = 10;

interface Filter {
  readonly route?: string | undefined;
  readonly status?: ((status: number) => boolean) | undefined;
  readonly code?: string | undefined;
  readonly consumer?: string | undefined;
}

interface Stream {
  readonly res: ServerResponse;
  readonly filter: Filter;
}

/**
 * `GET /calls/stream` on the admin port: a live tail of the call log as Server-Sent Events
 * (`event: call`, `id:` the call's id, `data:` the call as `GET /calls` lists it), filtered by
 * `route`, `status` (`409` or `4xx`), `code` and `consumer`. It opens with the latest 50 matching
 * calls. One reader serves every stream: the log is read once per `pollMs` while any is open, so
 * the proxy never waits on a dashboard.
 */
export function registerCallStream(
  app: FastifyInstance,
  log: CallLog,
  options: Partial<CallStreamOptions> = {},
): void {
  const settings = { ...DEFAULTS, ...options };
  const streams = new Set<Stream>();
  const seen = new Map<string, number>(); // call id -> its time, for the overlap
  let since = 0;
  let timer: NodeJS.Timeout | undefined;
  let reading = false;

  const read = async () => {
    if (reading) return;
    reading = true;
    try {
      const fresh: StoredCall[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const { items, next } = await log.query({
          order: 'asc',
          since: since - OVERLAP_MS,
          limit: PAGE,
          cursor,
        });
        for (const call of items) {
          const id = String(call['id']);
          if (seen.has(id)) continue;
          const time = Date.parse(String(call['time']));
          seen.set(id, time);
          if (time > since) since = time;
          fresh.push(call);
        }
        if (!next) break;
        cursor = next;
      }
      for (const [id, time] of seen) if (time < since - 2 * OVERLAP_MS) seen.delete(id);
      for (const stream of streams) {
        const matching = fresh.filter((call) => matches(stream.filter, call));
        const sent = matching.slice(-settings.perRead);
        let text =
          matching.length > sent.length ? `: ${matching.length - sent.length} calls skipped\n\n` : '';
        for (const call of sent) text += callEvent(call);
        if (text) write(stream.res, text);
      }
    } catch {
      // The log is closing, or busy: the next read tries again.
    } finally {
      reading = false;
    }
  };
  const heartbeat = setInterval(() => {
    for (const { res } of streams) write(res, ': heartbeat\n\n');
  }, 15_000);
  heartbeat.unref();
  app.addHook('preClose', (done) => {
    clearInterval(heartbeat);
    if (timer) clearInterval(timer);
    for (const { res } of streams) res.end();
    streams.clear();
    done();
  });

  app.get('/calls/stream', async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    const filter: Filter = {
      route: q['route'] || undefined,
      status: statusFilter(q['status']),
      code: q['code'] || undefined,
      consumer: q['consumer'] || undefined,
    };
    if (streams.size >= settings.maxStreams)
      throw gatewayProblem(
        'busy',
        `The admin API has ${streams.size} call streams open, the most it allows; retry later or poll GET /calls.`,
        {},
        { 'retry-after': '5' },
      );
    const latest = await log.query({
      order: 'desc',
      limit: 50,
      route: filter.route,
      code: filter.code,
      consumer: filter.consumer,
      status: statusQuery(q['status']),
    });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let text = 'retry: 2000\n\n';
    for (const call of [...latest.items].reverse()) {
      seen.set(String(call['id']), Date.parse(String(call['time'])));
      text += callEvent(call);
    }
    res.write(text);
    if (streams.size === 0) {
      since = Math.max(since, Date.now() - OVERLAP_MS);
      timer = setInterval(() => void read(), settings.pollMs);
      timer.unref();
    }
    const stream: Stream = { res, filter };
    streams.add(stream);
    const end = () => {
      streams.delete(stream);
      if (streams.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    };
    request.raw.once('close', end);
    res.once('close', end);
  });
}

function matches(filter: Filter, call: StoredCall): boolean {
  if (filter.route !== undefined && call['route'] !== filter.route) return false;
  if (filter.code !== undefined && call['code'] !== filter.code) return false;
  if (filter.consumer !== undefined && call['consumer'] !== filter.consumer) return false;
  if (filter.status && !filter.status(Number(call['status']))) return false;
  return true;
}

function statusQuery(text: string | undefined): { exact: number } | { class: number } | undefined {
  if (text === undefined || text === '') return undefined;
  if (/^[1-5][0-9][0-9]$/.test(text)) return { exact: Number(text) };
  if (/^[1-5]xx$/i.test(text)) return { class: Number(text[0]) };
  throw badParameter('status', 'must be a status (409) or a class (4xx)');
}

function statusFilter(text: string | undefined): ((status: number) => boolean) | undefined {
  const query = statusQuery(text);
  if (!query) return undefined;
  return 'exact' in query ? (s) => s === query.exact : (s) => Math.floor(s / 100) === query.class;
}

function callEvent(call: StoredCall): string {
  return `event: call\nid: ${String(call['id'])}\ndata: ${JSON.stringify(call)}\n\n`;
}

function write(res: ServerResponse, text: string): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.writableLength > MAX_BUFFERED) res.destroy();
  else res.write(text);
}
