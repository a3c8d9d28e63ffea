import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CorsConfig, RouteConfig } from '../config/types.js';

/** Methods a preflight may allow on a route that does not list its own. */
const ANY_METHOD = 'GET, HEAD, POST, PUT, PATCH, DELETE';

/**
 * Request headers a page may send after a preflight: the ones Truce servers and this gateway read
 * (preconditions, merging, idempotency, leases, keys, tracing). Anything else is refused by the
 * browser, so a page cannot smuggle headers the upstream did not expect.
 */
const ALLOW_HEADERS = [
  'Content-Type',
  'If-Match',
  'If-None-Match',
  'If-Modified-Since',
  'If-Unmodified-Since',
  'Truce-Base',
  'Truce-Actor',
  'Idempotency-Key',
  'Lock-Token',
  'Last-Event-ID',
  'Authorization',
  'X-Api-Key',
  'X-Request-Id',
  'traceparent',
].join(', ');

/** Response headers a page's script may read: the ones Truce's clients and the gateway's answers carry. */
const EXPOSE_HEADERS = [
  'ETag',
  'Last-Modified',
  'Location',
  'Link',
  'Retry-After',
  'Allow',
  'Accept-Patch',
  'Truce-Merged',
  'Truce-Warning',
  'Idempotent-Replayed',
  'RateLimit',
  'RateLimit-Policy',
  'Deprecation',
  'Sunset',
  'X-Request-Id',
  'traceparent',
].join(', ');

/**
 * CORS on the proxy (Fetch standard, "CORS protocol"), when the configuration lists origins: the
 * gateway answers a preflight from an allowed origin itself, for any route that matched (the
 * upstream never sees it, and a keyed route needs no key for it: browsers send none), and marks
 * every answer to an allowed origin. The upstream's own CORS headers are dropped, so that the
 * gateway's list is the one browsers follow. An origin not listed gets no CORS headers: the
 * browser keeps its script from reading the answer and from sending anything that needs a
 * preflight (keys, preconditions, JSON bodies).
 *
 * Returns true when it answered (a preflight).
 */
export function applyCors(
  cors: CorsConfig,
  route: RouteConfig,
  req: IncomingMessage,
  res: ServerResponse,
  answerHeaders: Record<string, string | string[]>,
): boolean {
  const origin = req.headers.origin;
  answerHeaders['vary'] = 'Origin';
  if (typeof origin !== 'string' || !cors.origins.has(origin)) return false;
  answerHeaders['access-control-allow-origin'] = origin;
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
    res.writeHead(204, {
      ...answerHeaders,
      'access-control-allow-methods': route.methods ? route.methods.join(', ') : ANY_METHOD,
      'access-control-allow-headers': ALLOW_HEADERS,
      'access-control-max-age': String(cors.maxAgeSeconds),
    });
    res.end();
    return true;
  }
  answerHeaders['access-control-expose-headers'] = EXPOSE_HEADERS;
  return false;
}

/** The upstream's answer headers without its own CORS headers, when the gateway does CORS. */
export function withoutUpstreamCors(
  headers: Record<string, string | string[]>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers))
    if (!name.startsWith('access-control-')) out[name] = value;
  return out;
}

/** `Vary` of the upstream's answer and the gateway's, as one header. */
export function mergeVary(
  upstream: string | string[] | undefined,
  own: string | string[] | undefined,
): string | undefined {
  const names = [upstream, own]
    .flat()
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  const seen = new Map(names.map((n) => [n.toLowerCase(), n]));
  return seen.size === 0 ? undefined : [...seen.values()].join(', ');
}

/**
 * The head of a forwarded answer: the upstream's headers, then the gateway's own (request id,
 * RateLimit, lifecycle, warnings, CORS), with `Vary` merged rather than replaced, and the
 * upstream's CORS headers dropped when the gateway does CORS itself.
 */
export function answerHead(
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
