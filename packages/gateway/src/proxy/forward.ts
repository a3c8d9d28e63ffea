import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RouteConfig } from '../config/types.js';
import { BodyCapture } from '../calls/capture.js';
import type { RawBody } from '../calls/record.js';
import { gatewayProblem } from '../problems/answer.js';
import { bodyTooLarge, flatHeaders, type CallState, type ProxyDeps } from './handler.js';
import { upstreamRequestHeaders } from './headers.js';
import { relay, type RelayContext, type Relayed } from './relay.js';
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
  const log = x.deps.config.log;
  const ctx: RelayContext = {
    res: x.res,
    restorePrefix: route.stripPrefix ? route.prefix : '',
    answerHeaders: call.answerHeaders,
    gatewayCors: x.deps.config.cors !== undefined,
    captureLimit: captureLimit(log),
    problemScan: PROBLEM_SCAN,
  };

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
    let answer: Relayed;
    try {
      answer = await relay(
        target.pool,
        {
          method: call.method as Dispatcher.HttpMethod,
          path: `${target.basePath}${x.upstreamPath}${query}`,
          headers,
          body: body === 'stream' ? Readable.from(streamBody(req, route, capture)) : body,
        },
        ctx,
        (status) => (status >= 500 ? target.failed(Date.now()) : target.succeeded()),
      );
    } catch (error) {
      if (error instanceof BodyTooLarge || (error as { cause?: unknown }).cause instanceof BodyTooLarge) {
        throw bodyTooLarge(route);
      }
      const kind = classify(error);
      if (kind !== 'other') target.failed(Date.now());
      lastError = error;
      const again =
        attempt < upstream.config.retries &&
        repeatable &&
        (kind === 'no-answer' || (kind === 'timeout' && IDEMPOTENT.has(call.method)));
      if (again) continue;
      throw failure(error, upstream);
    } finally {
      target.inFlight--;
    }
    const responseBody = answer.capture.bytes();
    const retryAfter = Number(answer.retryAfter);
    return {
      status: answer.status,
      code: answer.isProblem ? problemCode(responseBody.data) : null,
      target: target.origin,
      upstreamMs: answer.answeredAt - sent,
      requestBytes: capture.total,
      responseBytes: answer.capture.total,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
      responseHeaders: flatHeaders(answer.headers),
      requestBody: raw(capture, req.headers['content-type'], log.bodies),
      responseBody: raw(answer.capture, answer.contentType, log.bodies),
      bodyHash: capture.digest(),
    };
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
