import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { badParameter, iso } from '../admin/app.js';
import { gatewayProblem } from '../problems/answer.js';
import type { AlertEngine, NumberedEvent } from './engine.js';

/** A stream whose client has not taken this much is dropped rather than buffered without end. */
const MAX_BUFFERED = 1024 * 1024;

/**
 * `GET /alerts` and `GET /alerts/events` (SPEC 5.4) on the admin app. The event stream is
 * Server-Sent Events: `event: fire` or `event: resolve`, `id:` the event's sequence number,
 * `data:` the JSON of SPEC 5.6. A client resuming with `Last-Event-ID` first gets the events after
 * it that the engine still keeps; `?format=json` answers that list once instead of streaming.
 */
export function registerAlertRoutes(app: FastifyInstance, engine: AlertEngine): void {
  const streams = new Set<ServerResponse>();
  const heartbeat = setInterval(() => {
    for (const res of streams) write(res, ': heartbeat\n\n');
  }, engine.options.heartbeatMs);
  heartbeat.unref();
  // Streams never end by themselves: end them before the server waits for its connections.
  app.addHook('preClose', (done) => {
    clearInterval(heartbeat);
    for (const res of streams) res.end();
    streams.clear();
    done();
  });

  app.get('/alerts', async () => ({
    items: engine.statuses().map(({ since, ...status }) => ({ ...status, since: iso(since) })),
    next: null,
  }));

  app.get('/alerts/events', async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    const after = lastEventId(request);
    if (q['format'] !== undefined && q['format'] !== 'json')
      throw badParameter('format', 'must be json (or absent for the event stream)');
    if (q['format'] === 'json') {
      return {
        items: backlog(engine, after ?? 0).map(({ id, event }) => ({ id, ...event })),
        next: null,
      };
    }
    if (streams.size >= engine.options.maxStreams) {
      throw gatewayProblem(
        'busy',
        `The admin API has ${streams.size} alert streams open, the most it allows; retry later or poll ?format=json.`,
        {},
        { 'retry-after': '5' },
      );
    }
    openStream(request, reply, engine, streams, after);
  });
}

/** `Last-Event-ID` (the EventSource resume header), or `?after=` for a JSON poll. */
function lastEventId(request: FastifyRequest): number | undefined {
  const header = request.headers['last-event-id'];
  const q = (request.query as Record<string, string | undefined>)['after'];
  const raw = typeof header === 'string' ? header : q;
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]{1,15}$/.test(raw)) {
    throw gatewayProblem('malformed-request', 'Last-Event-ID (or after) must be an event id.', {
      errors: [
        { parameter: typeof header === 'string' ? 'Last-Event-ID' : 'after', message: 'must be an integer' },
      ],
    });
  }
  return Number(raw);
}

/**
 * The kept events after `after`. An id past the newest means the gateway restarted since the
 * client last read (ids start again at 1), so every kept event is new to it.
 */
function backlog(engine: AlertEngine, after: number): readonly NumberedEvent[] {
  const from = after > engine.lastId ? 0 : after;
  return engine.events().filter((e) => e.id > from);
}

function openStream(
  request: FastifyRequest,
  reply: FastifyReply,
  engine: AlertEngine,
  streams: Set<ServerResponse>,
  after: number | undefined,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let text = 'retry: 2000\n\n';
  if (after !== undefined) {
    const kept = backlog(engine, after);
    const oldest = engine.events()[0]?.id;
    // Events between the client's id and the oldest kept one are gone: say so, then send the rest.
    if (oldest !== undefined && after <= engine.lastId && oldest > after + 1)
      text += `: events ${after + 1} to ${oldest - 1} are no longer kept\n\n`;
    for (const e of kept) text += eventText(e);
  }
  res.write(text);
  // Subscribing right after the backlog, in the same tick, leaves no gap and no repeat.
  streams.add(res);
  const unsubscribe = engine.subscribe((e) => write(res, eventText(e)));
  const end = () => {
    unsubscribe();
    streams.delete(res);
  };
  request.raw.once('close', end);
  res.once('close', end);
}

function eventText({ id, event }: NumberedEvent): string {
  return `event: ${event.event}\nid: ${id}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Writes to a stream, or cuts it when its client has stopped reading. */
function write(res: ServerResponse, text: string): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.writableLength > MAX_BUFFERED) res.destroy();
  else res.write(text);
}
