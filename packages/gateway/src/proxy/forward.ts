import { mergeVary, withoutUpstreamCors } from './cors.js';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RouteConfig } from '../config/types.js';
import { BodyCapture } from '../calls/capture.js';
import type { RawBody } from '../calls/record.js';
import { gatewayProblem } from '../problems/answer.js';
import { bodyTooLarge, flatHeaders, type CallState, type ProxyDeps } from './handler.js';
import { downstreamResponseHeaders, restorePrefix, upstreamRequestHeaders } from './headers.js';
import type { Target, Upstream } from './upstream.js';

/** SPEC 5.6: request bodies up to this size are kept for a retry; larger ones are never retried. */
const RETRY_BODY_LIMIT = 64 * 1024;
/** A problem+json answer is read this far to find its `code`, whatever `log.bodies` says. */
const PROBLEM_SCAN = 64 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What forwarding produced, for the call record. */
export interface Forwarded {
  readonly status: number;
  readonly code: string | null;
  readonly target: string;
  readonly upstreamMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly retryAfter: number | null;
  readonly responseHeaders: Record<string, string>;
  readonly requestBody: RawBody | null;
  readonly responseBody: RawBody | null;
  /** The hash of the whole request body (see BodyCapture.digest). */
  readonly bodyHash: string | null;
}

interface Exchange {
  readonly deps: ProxyDeps;
  readonly call: CallState;
  readonly route: RouteConfig;
  readonly upstream: Upstream;
  readonly upstreamPath: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

class BodyTooLarge extends Error {}

/** A cancellation signal in the shape undici accepts besides AbortSignal: `aborted` and an `abort` event. */
class AbortEmitter extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

/**
 * Sends the request to a healthy target and streams the answer back unchanged (SPEC 5.2). Retries
 * go to another target, at most `retries` times, only when the upstream gave no answer (refused or
 * reset before a status line) and the request is safe to repeat: GET, HEAD, OPTIONS, PUT or DELETE
 * with If-Match, or anything with an Idempotency-Key; a response timeout is retried only for GET,
 * HEAD and OPTIONS. Bodies up to 64 KiB are kept for that; larger ones stream and are never retried.
 */
export async function forward(x: Exchange): Promise<Forwarded> {
  const { call, req, route, upstream } = x;
  const capture = new BodyCapture(captureLimit(x.deps.config.log), true);
  const body = await requestBody(x, capture);
  const repeatable =
    body !== 'stream' &&
    (IDEMPOTENT.has(call.method) ||
      ((call.method === 'PUT' || call.method === 'DELETE') && req.headers['if-match'] !== undefined) ||
      req.headers['idempotency-key'] !== undefined);
  const headers = upstreamRequestHeaders(req.headers, req.rawHeaders, {
    clientIp: call.clientIp,
    host: req.headers.host,
    requestId: call.requestId,
    traceparent: call.traceparent,
    actor: call.consumer?.name ?? null,
    credentialHeaders: route.auth === 'key' ? ['authorization', 'x-api-key'] : [],
  });
  const query = call.query === null ? '' : `?${call.query}`;
  // The upstream request is cancelled when the client leaves first. undici takes an EventEmitter
  // with an `abort` event as its signal: an AbortController (an EventTarget) per request cost about
  // 2% of the proxy's CPU time under load (createAbortSignal in the profile), an emitter next to nothing.
  const abort = new AbortEmitter();
  const onClose = () => {
    if (!x.res.writableFinished) abort.abort();
  };
  x.res.on('close', onClose);

  const tried = new Set<Target>();
  let lastError: unknown;
  for (let attempt = 0; ; attempt++) {
    const target = upstream.pick(tried);
    if (!target) {
      if (tried.size === 0) {
        throw gatewayProblem(
          'no-healthy-upstream',
          `Every target of upstream ${upstream.name} is out of rotation.`,
          { upstream: upstream.name },
          { 'retry-after': '5' },
        );
      }
      throw failure(lastError, upstream);
    }
    tried.add(target);
    target.inFlight++;
    const sent = performance.now();
    let answer: Dispatcher.ResponseData;
    try {
      answer = await target.pool.request({
        method: call.method as Dispatcher.HttpMethod,
        path: `${target.basePath}${x.upstreamPath}${query}`,
        headers,
        body: body === 'stream' ? Readable.from(streamBody(req, route, capture)) : body,
        signal: abort,
      });
    } catch (error) {
      target.inFlight--;
      if (error instanceof BodyTooLarge || (error as { cause?: unknown }).cause instanceof BodyTooLarge) {
        throw bodyTooLarge(route);
      }
      if (abort.aborted) throw error;
      const kind = classify(error);
      if (kind !== 'other') target.failed(Date.now());
      lastError = error;
      const again =
        attempt < upstream.config.retries &&
        repeatable &&
        (kind === 'no-answer' || (kind === 'timeout' && IDEMPOTENT.has(call.method)));
      if (again) continue;
      throw failure(error, upstream);
    }
    const upstreamMs = performance.now() - sent;
    if (answer.statusCode >= 500) target.failed(Date.now());
    else target.succeeded();
    try {
      return await relay(x, target, answer, upstreamMs, capture);
    } finally {
      target.inFlight--;
      x.res.off('close', onClose);
    }
  }
}

/** The request body: none, the whole of a small one (so it can be sent again), or 'stream'. */
async function requestBody(x: Exchange, capture: BodyCapture): Promise<Buffer | null | 'stream'> {
  const { req, route } = x;
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) return null;
  if (chunked || Number(length) > RETRY_BODY_LIMIT) return 'stream';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > route.maxBody) throw bodyTooLarge(route);
    capture.add(chunk);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** A streamed request body, counted against `maxBody` as it passes. */
async function* streamBody(
  req: IncomingMessage,
  route: RouteConfig,
  capture: BodyCapture,
): AsyncGenerator<Buffer> {
  for await (const chunk of req as AsyncIterable<Buffer>) {
    capture.add(chunk);
    if (capture.total > route.maxBody) throw new BodyTooLarge();
    yield chunk;
  }
}

/** Writes the upstream's answer to the client unchanged, apart from hop-by-hop headers and ours. */
async function relay(
  x: Exchange,
  target: Target,
  answer: Dispatcher.ResponseData,
  upstreamMs: number,
  requestCapture: BodyCapture,
): Promise<Forwarded> {
  const { res, call, route } = x;
  const headers = downstreamResponseHeaders(answer.headers);
  if (route.stripPrefix) restorePrefix(headers, route.prefix);
  const contentType = String(headers['content-type'] ?? '');
  const isProblem = contentType.toLowerCase().startsWith('application/problem+json');
  const capture = new BodyCapture(Math.max(captureLimit(x.deps.config.log), isProblem ? PROBLEM_SCAN : 0));
  res.writeHead(answer.statusCode, answerHead(x.deps.config.cors !== undefined, headers, call.answerHeaders));
  try {
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      capture.add(chunk);
      if (!res.write(chunk)) await drained(res);
    }
    res.end();
  } catch {
    // The upstream broke off mid-answer, or the client left: nothing more can be said on this connection.
    res.destroy();
  }
  const responseBody = capture.bytes();
  const retryAfter = Number(answer.headers['retry-after']);
  return {
    status: answer.statusCode,
    code: isProblem ? problemCode(responseBody.data) : null,
    target: target.origin,
    upstreamMs,
    requestBytes: requestCapture.total,
    responseBytes: capture.total,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
    responseHeaders: flatHeaders(headers),
    requestBody: raw(requestCapture, x.req.headers['content-type'], x.deps.config.log.bodies),
    responseBody: raw(capture, contentType, x.deps.config.log.bodies),
    bodyHash: requestCapture.digest(),
  };
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', closed);
      resolve();
    };
    const closed = () => {
      res.off('drain', done);
      reject(new Error('client left'));
    };
    res.once('drain', done);
    res.once('close', closed);
  });
}

/** The `code` member of a problem+json body, when it has one. */
function problemCode(data: Buffer): string | null {
  try {
    const parsed = JSON.parse(data.toString('utf8')) as { code?: unknown };
    return typeof parsed.code === 'string' ? parsed.code : null;
  } catch {
    return null;
  }
}

/**
 * How much of each body is kept while it streams: `log.bodies`, or, when JSON Pointers are to be
 * redacted, enough to redact the whole body before it is cut (SPEC 5.6), up to 1 MiB; a longer JSON
 * body is then not stored at all rather than stored unredacted.
 */
function captureLimit(log: ProxyDeps['config']['log']): number {
  if (log.bodies === 0) return 0;
  return log.redactPointers.length > 0 ? Math.max(log.bodies, REDACT_SCAN) : log.bodies;
}
const REDACT_SCAN = 1024 * 1024;

function raw(
  capture: BodyCapture,
  contentType: string | string[] | undefined,
  limit: number,
): RawBody | null {
  if (limit === 0 || capture.total === 0) return null;
  const { data, truncated } = capture.bytes();
  return { data, truncated, contentType: Array.isArray(contentType) ? contentType[0] : contentType };
}

type FailureKind = 'no-answer' | 'timeout' | 'other';

/** undici's errors by what they mean for a retry. */
function classify(error: unknown): FailureKind {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'timeout';
  if (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_SOCKET' ||
    code === 'UND_ERR_CLOSED'
  ) {
    return 'no-answer';
  }
  return 'other';
}

function failure(error: unknown, upstream: Upstream) {
  if (classify(error) === 'timeout') {
    return gatewayProblem(
      'upstream-timeout',
      `Upstream ${upstream.name} did not answer within ${upstream.config.timeouts.responseMs} ms.`,
      {
        timeout: upstream.config.timeouts.responseMs,
      },
    );
  }
  return gatewayProblem(
    'bad-gateway',
    `Upstream ${upstream.name} could not be reached or broke off its answer.`,
  );
}

/**
 * The head of a forwarded answer: the upstream's headers, then the gateway's own (request id,
 * RateLimit, lifecycle, warnings), with `Vary` merged rather than replaced, and the upstream's CORS
 * headers dropped when the gateway does CORS itself.
 */
function answerHead(
  gatewayCors: boolean,
  upstream: Record<string, string | string[]>,
  own: Record<string, string | string[]>,
): Record<string, string | string[]> {
  const head = { ...(gatewayCors ? withoutUpstreamCors(upstream) : upstream), ...own };
  if (own['vary'] !== undefined) {
    const vary = mergeVary(upstream['vary'], own['vary']);
    if (vary) head['vary'] = vary;
  }
  return head;
}
