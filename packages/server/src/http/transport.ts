import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import type { Timeouts } from '../config/types.js';
import { answerOnSocket, sendProblemResponse, type RawAnswerOptions } from './client-errors.js';
import { destroyAll, linger, trackSockets } from './linger.js';
import { ProblemError } from '../shared/problem-error.js';

/** What the HTTP/1.1 layer under Fastify needs to know. */
export interface TransportOptions extends RawAnswerOptions {
  readonly timeouts: Timeouts;
  readonly bodyLimit: number;
  /** True once the server is shutting down: requests still arriving get 503. */
  readonly closing: () => boolean;
}

/**
 * The methods the resource server answers somewhere, for `OPTIONS *` (RFC 9110 9.3.7): the union
 * of the routes' own `Allow` lists.
 */
export const SERVER_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** How long and how much a connection closed with an answer keeps reading: a few seconds, a few MiB. */
export function lingerBounds(bodyLimit: number): RawAnswerOptions['linger'] {
  return { ms: 5000, bytes: Math.max(4 * 1024 * 1024, 2 * bodyLimit) };
}

/**
 * A Fastify `serverFactory`: Node's HTTP server with the configured timeouts, and the transport
 * rules Fastify does not have. Node checks request deadlines on a timer; it ticks often enough
 * that a request times out within a tenth of its limit (at most a second) after it.
 */
export function httpServerFactory(options: TransportOptions): FastifyServerFactory {
  return (handler) => {
    const { requestMs, keepAliveMs } = options.timeouts;
    const server = createServer(
      {
        requestTimeout: requestMs,
        headersTimeout: requestMs,
        connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.round(requestMs / 10))),
        // RFC 9112 3.2 asks for a 400 here; Node's own has no body, so the check is below.
        requireHostHeader: false,
      },
      (req, res) => onRequest(req, res, handler, options),
    );
    server.keepAliveTimeout = keepAliveMs;
    trackSockets(server);
    server.on('connection', (socket: Socket) => lingerOnClose(socket, options));
    // Node.js hands CONNECT over as a bare socket and, with nobody listening, drops it unanswered.
    server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const problem = new ProblemError(
        'method-not-allowed',
        'CONNECT is not allowed: this server is not a proxy.',
        {},
        { allow: SERVER_METHODS },
      );
      answerOnSocket(socket, problem, req.url ?? '', options);
    });
    // RFC 9110 10.1.1: a server that will refuse the body anyway answers at once instead of
    // inviting it with 100 Continue. Fastify sees the request without the 100 and refuses it
    // (413) from the declared length, without reading.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const declared = Number(req.headers['content-length']);
      if (!(declared > options.bodyLimit)) res.writeContinue();
      onRequest(req, res, handler, options);
    });
    return server;
  };
}

/** The request currently read on each socket, for {@link lingerOnClose}. */
const reading = new WeakMap<Socket, IncomingMessage>();

function onRequest(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: TransportOptions,
): void {
  reading.set(req.socket, req);
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    const problem = new ProblemError('malformed-request', 'An HTTP/1.1 request must name its Host.', {
      errors: [{ header: 'host', message: 'missing (RFC 9112 section 3.2)' }],
    });
    sendProblemResponse(res, problem, req.url ?? '', options.typeBase, { connection: 'close' });
    return;
  }
  if (options.closing()) {
    // Requests pipelined or sent on a kept-alive connection during the drain (Fastify's own answer
    // to those is not a problem).
    const problem = new ProblemError(
      'busy',
      'The server is shutting down; send the request again on a new connection.',
      {},
      { 'retry-after': '1' },
    );
    sendProblemResponse(res, problem, pathOf(req.url ?? ''), options.typeBase, { connection: 'close' });
    return;
  }
  if (req.method === 'OPTIONS' && req.url === '*') {
    res.writeHead(204, { allow: SERVER_METHODS }).end();
    return;
  }
  watchBodyIdle(req, options);
  handler(req, res);
}

/**
 * Answers 408 when a request body stops arriving for `bodyIdle`. Progress is the socket's byte
 * count, read on a timer, since listening for the body's data would consume it before Fastify.
 */
function watchBodyIdle(req: IncomingMessage, options: TransportOptions): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
  if (!hasBody) return;
  const idleMs = options.timeouts.bodyIdleMs;
  const socket = req.socket;
  let seen = socket.bytesRead;
  let quietSince = Date.now();
  // On the request, not its socket: one listener per request would pile up on a kept-alive
  // socket. A request closes when its exchange ends or its socket does.
  const stop = () => {
    clearInterval(timer);
    req.off('close', stop);
  };
  const timer = setInterval(
    () => {
      if (req.complete || socket.destroyed) {
        stop();
        return;
      }
      if (socket.bytesRead !== seen) {
        seen = socket.bytesRead;
        quietSince = Date.now();
        return;
      }
      if (Date.now() - quietSince < idleMs) return;
      stop();
      const seconds = idleMs / 1000;
      const problem = new ProblemError(
        'request-timeout',
        `The request body stopped arriving for ${seconds} s.`,
        { timeout: seconds },
      );
      answerOnSocket(socket, problem, pathOf(req.url ?? ''), options, () => req.complete);
    },
    Math.min(1000, Math.max(10, idleMs / 5)),
  );
  timer.unref();
  req.once('close', stop);
}

/**
 * Node closes a connection right after an answer marked `Connection: close` (Fastify marks every
 * refused body so, 413 included). While the request's body is still arriving, close lingering
 * instead, so the client reads the answer rather than a reset.
 */
function lingerOnClose(socket: Socket, options: TransportOptions): void {
  const s = socket as Socket & { destroySoon?: () => void };
  const destroySoon = s.destroySoon?.bind(socket);
  if (!destroySoon) return;
  s.destroySoon = () => {
    const req = reading.get(socket);
    if (req && !req.complete) linger(socket, options.linger, () => req.complete);
    else destroySoon();
  };
}

/**
 * Closes `app` (finishing requests in flight) and, if that takes longer than `drainMs`, cuts the
 * connections still open so that the close can complete: a client that idles mid-request cannot
 * hold a shutdown.
 */
export async function closeWithin(app: FastifyInstance, drainMs: number): Promise<void> {
  const timer = setTimeout(() => destroyAll(app.server), drainMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
