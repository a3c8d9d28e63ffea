import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { linger, type LingerBounds } from './linger.js';
import { problemBody, ProblemError } from '../shared/problem-error.js';

/** A parse or timeout error of Node's HTTP server (its `clientError` event). */
export interface ClientError extends Error {
  readonly code?: string;
  /** llhttp's explanation, e.g. "Invalid method encountered". */
  readonly reason?: string;
  /** The bytes the parser was looking at. */
  readonly rawPacket?: Buffer;
}

/** What a raw answer needs besides the problem. */
export interface RawAnswerOptions {
  readonly typeBase: string;
  readonly linger: LingerBounds;
}

const answered = new WeakSet<Socket>();

/**
 * Writes a problem straight onto a socket, as a complete HTTP/1.1 response with
 * `Connection: close`, then closes the connection after a lingering read. For errors that never
 * reach Fastify (no request or reply exists) or that must preempt one in flight. When a response
 * has already started on the socket nothing can be said any more, and the connection is cut.
 */
export function answerOnSocket(
  socket: Socket,
  error: ProblemError,
  instance: string,
  options: RawAnswerOptions,
  done?: () => boolean,
): void {
  if (answered.has(socket) || socket.destroyed) return;
  answered.add(socket);
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const problem = problemBody(error, instance, options.typeBase);
  const status = problem['status'] as number;
  const body = JSON.stringify(problem);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    `Date: ${new Date().toUTCString()}`,
    'Connection: close',
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(error.headers).map(([name, value]) => `${name}: ${value}`),
  ];
  // Our side ends right after this answer (linger), so a response still in flight cannot write
  // after it: its writes fail instead of corrupting the stream.
  socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  linger(socket, options.linger, done);
}

/** Sends a problem on a Node response, for answers given before Fastify sees the request. */
export function sendProblemResponse(
  res: ServerResponse,
  error: ProblemError,
  instance: string,
  typeBase: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  const problem = problemBody(error, instance, typeBase);
  const body = JSON.stringify(problem);
  res
    .writeHead(problem['status'] as number, {
      ...error.headers,
      ...headers,
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    })
    .end(body);
}

/** The method and target of the request line in `raw`, when it has one. */
function requestLine(raw: Buffer | undefined): { method: string; target: string } | undefined {
  const line = raw?.subarray(0, 8192).toString('latin1').split('\r\n', 1)[0] ?? '';
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) (\/[^\s]{0,4095}) HTTP\/1\.[01]$/.exec(line);
  return match ? { method: match[1]!, target: match[2]! } : undefined;
}

/** The path of a request target, for a problem's `instance`. */
function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/**
 * Fastify's `clientErrorHandler`: every error Node's HTTP parser or its timers raise becomes a
 * problem+json answer where one can still be sent (RFC 9457), instead of Fastify's
 * `{"error":…}` bodies. A request line whose method Node does not know (any other token) is
 * still a well-formed request (RFC 9110 9.1): it is answered 405 with the path's `Allow`.
 */
export function clientErrorHandler(
  options: RawAnswerOptions & { readonly requestTimeoutMs: number },
): (this: FastifyInstance, error: Error, socket: Socket) => void {
  return function onClientError(this: FastifyInstance, raised, socket) {
    const error = raised as ClientError;
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    this.log.debug({ err: error }, 'client error');
    const line = requestLine(error.rawPacket);
    const instance = line ? pathOf(line.target) : '';
    switch (error.code) {
      case 'ERR_HTTP_REQUEST_TIMEOUT': {
        const seconds = options.requestTimeoutMs / 1000;
        const problem = new ProblemError(
          'request-timeout',
          `The request did not arrive in full within ${seconds} s.`,
          { timeout: seconds },
        );
        answerOnSocket(socket, problem, instance, options);
        return;
      }
      case 'HPE_HEADER_OVERFLOW':
        answerOnSocket(
          socket,
          new ProblemError('headers-too-large', 'The request line and headers exceed 16 KiB.'),
          instance,
          options,
        );
        return;
      case 'HPE_INVALID_METHOD':
        if (line) {
          void unknownMethod(this, line.method, line.target).then(
            (problem) => answerOnSocket(socket, problem, instance, options),
            () => socket.destroy(),
          );
          return;
        }
        break;
      default:
        break;
    }
    const message = `${error.code ?? 'parse error'}: ${error.reason ?? error.message}`;
    const problem = new ProblemError('malformed-request', 'The request is not valid HTTP/1.1.', {
      errors: [{ message }],
    });
    answerOnSocket(socket, problem, instance, options);
  };
}

/**
 * The answer to a method Node cannot parse: the route's own OPTIONS answer tells which methods
 * it allows (405 with them) or that nothing is there (that problem, usually 404).
 */
async function unknownMethod(app: FastifyInstance, method: string, target: string): Promise<ProblemError> {
  const res = await app.inject({ method: 'OPTIONS', url: target });
  const allow = res.headers['allow'];
  if (res.statusCode === 204 && typeof allow === 'string') {
    return new ProblemError(
      'method-not-allowed',
      `${method} is not allowed here; use ${allow}.`,
      {},
      { allow },
    );
  }
  const problem = JSON.parse(res.body) as { code?: string; detail?: string };
  return new ProblemError(
    problem.code === 'not-found' ? 'not-found' : 'method-not-allowed',
    problem.detail ?? `${method} is not allowed here.`,
  );
}
