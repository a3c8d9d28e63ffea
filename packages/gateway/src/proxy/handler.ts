import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig, RouteConfig } from '../config/types.js';
import type { CallRecord, CallSink, RawBody } from '../calls/record.js';
import { GatewayProblem, gatewayProblem, problemPage, sendProblem } from '../problems/answer.js';
import { applyCors } from './cors.js';
import { hasLifecycle, lifecycleHeaders, sunsetProblem } from './lifecycle.js';
import type { AccessControl, Consumer, RateLimiter } from './policies.js';
import { normalisePath, Router } from './router.js';
import { compileResourceKey } from './resource-key.js';
import { forward, type Forwarded } from './forward.js';
import { requestIdOf, traceparentOf } from './headers.js';
import type { Upstream } from './upstream.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { AiCallInfo } from '../calls/record.js';
import { AiProblem, handleAi, type AiOutcome } from '../ai/route.js';
import type { ModelInvoker } from '../ai/invoke.js';
import type { TokenBudget } from '../ai/tokens.js';
import type { TruceState } from '../ai/state.js';
import type { AiConfig } from '../ai/types.js';

/** Everything the proxy's request handler works with. */
export interface ProxyDeps {
  readonly config: GatewayConfig;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly access: AccessControl;
  readonly limiter: RateLimiter;
  readonly calls: CallSink;
  readonly metrics?: GatewayMetrics | undefined;
  /** The model invokers of AI routes, by route name, and their token budgets. */
  readonly ai?: {
    readonly invokers: ReadonlyMap<string, ModelInvoker>;
    readonly budget: TokenBudget;
    readonly states: ReadonlyMap<string, TruceState>;
  };
}

const CONDITIONAL = ['if-match', 'if-unmodified-since', 'if-none-match', 'truce-base'] as const;
const GUARDED = new Set(['PUT', 'PATCH', 'DELETE']);

/** The state of one call while it runs; it becomes the call record at the end. */
export interface CallState {
  readonly id: string;
  readonly time: number;
  readonly started: number;
  readonly requestId: string;
  readonly traceparent: string;
  readonly clientIp: string;
  readonly method: string;
  path: string;
  readonly query: string | null;
  route: RouteConfig | undefined;
  consumer: Consumer | undefined;
  resource: string | null;
  /** Headers every answer of this call carries (request id, lifecycle, RateLimit, warnings). */
  readonly answerHeaders: Record<string, string | string[]>;
  unconditionalWarned: boolean;
}

/**
 * The proxy's request handler (SPEC 5.2): problem pages, path normalisation, routing, lifecycle,
 * keys and subscriptions, rate limits, the lost-update guard, then forwarding. Each call becomes one
 * call record, pushed to the log without waiting for it.
 */
export function createProxyHandler(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const router = new Router(deps.config.routes);
  const resourceKeys = new Map(deps.config.routes.map((r) => [r.name, compileResourceKey(r.resourceKey)]));
  let sequence = 0;
  const idPrefix = `${Date.now().toString(36)}-${process.pid.toString(36)}-`;

  return (req, res) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const call: CallState = {
      id: idPrefix + (sequence++).toString(36),
      time: Date.now(),
      started: performance.now(),
      requestId: requestIdOf(req.headers['x-request-id']),
      traceparent: traceparentOf(req.headers['traceparent']),
      clientIp: req.socket.remoteAddress ?? '',
      method: req.method ?? 'GET',
      path: q === -1 ? raw : raw.slice(0, q),
      query: q === -1 ? null : raw.slice(q + 1),
      route: undefined,
      consumer: undefined,
      resource: null,
      answerHeaders: {},
      unconditionalWarned: false,
    };
    call.answerHeaders['x-request-id'] = call.requestId;
    call.answerHeaders['traceparent'] = call.traceparent;
    handle(deps, router, resourceKeys, call, req, res).then(
      (outcome) => finish(deps, call, req, outcome),
      (error: unknown) => {
        const problem =
          error instanceof GatewayProblem
            ? error
            : gatewayProblem('bad-gateway', 'The gateway failed to handle this request.');
        const sent = sendProblem(res, problem, call.path, call.answerHeaders);
        drainRequest(req);
        finish(deps, call, req, {
          status: sent.status,
          code: problem.code,
          responseBytes: sent.bytes,
          problemBody: sent.body,
          retryAfter: Number(problem.headers['retry-after']) || null,
          ...(error instanceof AiProblem ? { ai: error.ai, requestBody: error.requestBody } : {}),
        });
      },
    );
  };
}

/** How a call ended, for its record. */
interface Outcome {
  readonly status: number;
  readonly code: string | null;
  readonly responseBytes: number;
  readonly problemBody?: string;
  readonly forwarded?: Forwarded;
  /** The gateway's own Retry-After (429, 503), for the call log's `early`. */
  readonly retryAfter?: number | null;
  /** An AI route's call: what it used, and the bodies as the client saw them. */
  readonly ai?: AiCallInfo | null;
  readonly requestBody?: AiOutcome['requestBody'];
  readonly aiOutcome?: AiOutcome;
}

async function handle(
  deps: ProxyDeps,
  router: Router,
  resourceKeys: ReadonlyMap<string, (path: string) => string | null>,
  call: CallState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Outcome> {
  // The gateway's own problem pages, before routing, so that problem `type`s resolve (SPEC 5.6).
  if ((call.method === 'GET' || call.method === 'HEAD') && call.path.startsWith('/_problems/')) {
    const page = problemPage(
      decodeURIComponent(call.path.slice('/_problems/'.length)),
      req.headers['accept'],
    );
    if (page) {
      res.writeHead(200, {
        ...call.answerHeaders,
        'content-type': page.type,
        'content-length': Buffer.byteLength(page.body),
        vary: 'Accept',
        'cache-control': 'public, max-age=3600',
      });
      res.end(call.method === 'HEAD' ? undefined : page.body);
      return { status: 200, code: null, responseBytes: Buffer.byteLength(page.body) };
    }
  }
  const path = normalisePath(call.path);
  if (path === undefined) {
    throw gatewayProblem(
      'malformed-request',
      'The request path cannot be read safely (encoded slash, backslash or NUL).',
      {
        errors: [{ pointer: '', message: 'the path has an encoded /, \\ or NUL, or does not start with /' }],
      },
    );
  }
  call.path = path;
  const match = router.match(call.method, path, req.headers.host);
  if (match.kind === 'no-route') throw gatewayProblem('no-route', `No route matches ${call.method} ${path}.`);
  const route = match.route;
  call.route = route;
  Object.assign(call.answerHeaders, lifecycleHeaders(route));
  if (deps.config.cors && applyCors(deps.config.cors, route, req, res, call.answerHeaders)) {
    drainRequest(req);
    return { status: 204, code: null, responseBytes: 0 };
  }
  if (match.kind === 'method-not-allowed') {
    throw gatewayProblem(
      'method-not-allowed',
      `${call.method} is not allowed on route ${route.name}; use ${match.allow}.`,
      {},
      { allow: match.allow },
    );
  }
  // Before the sunset check, so that the calls still made to a retired route show per resource.
  call.resource = resourceKeys.get(route.name)!(match.upstreamPath);
  const sunset = sunsetProblem(route, Date.now());
  if (sunset) {
    // Whoever still calls a retired route is whom the lifecycle report names: the key is looked up
    // when there is one, but the answer is 410 whatever it is (no key, unknown, not subscribed).
    if (route.auth === 'key') {
      try {
        call.consumer = await deps.access.authenticate(route, keyOf(req));
      } catch {
        call.consumer = undefined;
      }
    }
    throw sunset;
  }

  if (route.auth === 'key') call.consumer = await deps.access.authenticate(route, keyOf(req));
  if (route.rateLimit) {
    const limit = route.rateLimit;
    const subject =
      limit.by === 'consumer' && call.consumer ? `c:${call.consumer.id}` : `ip:${call.clientIp}`;
    const decision = await deps.limiter.take(route, subject, Date.now());
    deps.metrics?.rateLimited(route.name, decision.allowed);
    const window = Math.ceil(limit.windowMs / 1000);
    call.answerHeaders['ratelimit-policy'] = `"${route.name}";q=${limit.limit};w=${window}`;
    call.answerHeaders['ratelimit'] = `"${route.name}";r=${decision.remaining};t=${decision.resetSeconds}`;
    if (!decision.allowed) {
      throw gatewayProblem(
        'rate-limited',
        `Route ${route.name} allows ${limit.limit} requests per ${window} s; retry after ${decision.resetSeconds} s.`,
        { limit: limit.limit, window, retryAfter: decision.resetSeconds },
        { 'retry-after': String(decision.resetSeconds) },
      );
    }
  }
  // The lost-update guard (SPEC 5.2): a write with no precondition may overwrite a concurrent change.
  if (route.requirePreconditions !== 'off' && GUARDED.has(call.method)) {
    if (CONDITIONAL.some((h) => h !== 'if-none-match' && req.headers[h] !== undefined)) {
      deps.metrics?.guarded(route.name, 'passed');
    } else if (route.requirePreconditions === 'enforce') {
      deps.metrics?.guarded(route.name, 'refused');
      throw gatewayProblem(
        'precondition-required',
        `Writes through route ${route.name} must be conditional: send If-Match with the ETag you read, If-Unmodified-Since, or Truce-Base.`,
      );
    } else {
      deps.metrics?.guarded(route.name, 'warned');
      call.unconditionalWarned = true;
      call.answerHeaders['truce-warning'] = 'unconditional-write';
    }
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > route.maxBody) {
    throw bodyTooLarge(route);
  }
  if (route.ai) {
    const ai = deps.ai?.invokers.get(route.name);
    if (!ai || !deps.ai) throw gatewayProblem('bad-gateway', `AI route ${route.name} is not running.`);
    const outcome = await handleAi({
      route: route as RouteConfig & { ai: AiConfig },
      invoker: ai,
      budget: deps.ai.budget,
      path: path.slice(route.prefix.length) || '/',
      method: call.method,
      subject: call.consumer ? `c:${call.consumer.id}` : `ip:${call.clientIp}`,
      answerHeaders: call.answerHeaders,
      started: call.started,
      req,
      res,
      state: deps.ai.states.get(route.name),
      actor: call.consumer?.name ?? null,
    });
    return {
      status: outcome.status,
      code: outcome.code,
      responseBytes: outcome.responseBytes,
      aiOutcome: outcome,
    };
  }
  const forwarded = await forward({
    deps,
    call,
    route,
    upstream: deps.upstreams.get(route.upstream)!,
    upstreamPath: match.upstreamPath,
    req,
    res,
  });
  return {
    status: forwarded.status,
    code: forwarded.code,
    responseBytes: forwarded.responseBytes,
    forwarded,
  };
}

/** 413 for a body over the route's `maxBody`. */
export function bodyTooLarge(route: RouteConfig): GatewayProblem {
  return gatewayProblem(
    'payload-too-large',
    `Route ${route.name} takes bodies of at most ${route.maxBody} bytes.`,
    {
      limit: route.maxBody,
    },
  );
}

/** The API key: `Authorization: Bearer <key>` or `X-Api-Key: <key>`. */
function keyOf(req: IncomingMessage): string | undefined {
  const auth = req.headers['authorization'];
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (match) return match[1];
  }
  const header = req.headers['x-api-key'];
  return typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
}

/**
 * After an early answer (413, 401...), the rest of the request body is read and thrown away, up to a
 * bound, before the connection closes: closing at once would reset it, and the client would see a
 * network error instead of the answer (the lingering close nginx does).
 */
export function drainRequest(req: IncomingMessage): void {
  if (req.complete || req.readableEnded) return;
  let left = 16 * 1024 * 1024;
  const timer = setTimeout(() => req.socket.destroy(), 5_000).unref();
  req.on('data', (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) req.socket.destroy();
  });
  req.on('end', () => clearTimeout(timer));
  req.on('close', () => clearTimeout(timer));
  req.resume();
}

function finish(deps: ProxyDeps, call: CallState, req: IncomingMessage, outcome: Outcome): void {
  const f = outcome.forwarded;
  const a = outcome.aiOutcome;
  const record: CallRecord = {
    id: call.id,
    requestId: call.requestId,
    traceparent: call.traceparent,
    time: call.time,
    route: call.route?.name ?? null,
    target: f?.target ?? a?.target ?? null,
    consumer: call.consumer?.name ?? null,
    clientIp: call.clientIp,
    method: call.method,
    path: call.path,
    query: call.query,
    resource: call.resource,
    status: outcome.status,
    code: outcome.code,
    conditional: CONDITIONAL.some((h) => req.headers[h] !== undefined),
    unconditionalWarned: call.unconditionalWarned,
    idempotencyKey:
      typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null,
    // The gateway's own 429 and 503 carry Retry-After too: the call log's `early` needs them.
    retryAfter: f?.retryAfter ?? outcome.retryAfter ?? null,
    durationMs: performance.now() - call.started,
    upstreamMs: f?.upstreamMs ?? a?.upstreamMs ?? null,
    requestBytes: f?.requestBytes ?? a?.requestBytes ?? Number(req.headers['content-length'] ?? 0),
    responseBytes: outcome.responseBytes,
    requestHeaders: rawHeaderRecord(req.rawHeaders),
    responseHeaders: f?.responseHeaders ?? {},
    requestBody: f?.requestBody ?? a?.requestBody ?? outcome.requestBody ?? null,
    responseBody:
      f?.responseBody ?? a?.responseBody ?? (outcome.problemBody ? textBody(outcome.problemBody) : null),
    bodyHash: f?.bodyHash ?? null,
    lifecycle: call.route !== undefined && hasLifecycle(call.route),
    ai: a?.ai ?? outcome.ai ?? null,
  };
  deps.calls.push(record);
  deps.metrics?.observe(record);
}

function textBody(text: string): RawBody {
  return { data: Buffer.from(text, 'utf8'), truncated: false, contentType: 'application/problem+json' };
}

/**
 * The request's headers for its record, read from `rawHeaders`: names in lower case, one string per
 * name, repeated ones joined with commas (RFC 9110 5.3), as {@link flatHeaders} of
 * `headersDistinct` gives. Reading `headersDistinct` builds an array per header on every request
 * (a few percent of the proxy's CPU time under load); this walks the raw pairs once.
 */
export function rawHeaderRecord(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === '__proto__') continue;
    const value = raw[i + 1]!;
    const prior = out[name];
    out[name] = prior === undefined ? value : `${prior}, ${value}`;
  }
  return out;
}

/** Headers as one string per name (repeated ones joined with commas, RFC 9110 5.3). */
export function flatHeaders(
  headers: Record<string, string[] | string | number | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}
