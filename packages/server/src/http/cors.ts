/**
 * Cross-origin requests from browsers (Fetch standard, "CORS protocol"; docs/http-api.md).
 *
 * Two jobs, one hook:
 * 1. Real CORS for the origins in `cors.origins`: preflights answered here, before any route can
 *    answer OPTIONS with its own `Allow`, and every answer to an allowed origin says so and exposes
 *    the headers Truce's clients read.
 * 2. Cross-site request forgery. Any page can make a browser send a "simple" request (GET, HEAD or
 *    POST with only safelisted headers: no body, a form or `text/plain`) to any server without
 *    asking first; the browser only hides the answer. A transition or a `_lock` needs no body, so
 *    such a request could change state. Unsafe requests that could have been sent that way from
 *    another site are refused with 403 before their body is read or any handler runs.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TruceConfig } from '../config/types.js';
import { mediaTypeOf } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';

/** Methods a preflight may allow: every method Truce routes answer besides OPTIONS. */
const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';

/** Response headers Truce's clients read, which CORS hides from scripts unless exposed. */
const EXPOSE_HEADERS = [
  'ETag',
  'Last-Modified',
  'Location',
  'Link',
  'Retry-After',
  'Truce-Merged',
  'Idempotent-Replayed',
  'Allow',
  'Accept-Patch',
].join(', ');

/**
 * Request headers Truce reads that are not CORS-safelisted, so a page can send them only after a
 * preflight (and a `no-cors` request loses them). The actor header is added from the configuration.
 * Authorization is for the gateways and hooks that authenticate in front of Truce.
 */
const TRUCE_REQUEST_HEADERS = [
  'Content-Type',
  'If-Match',
  'If-None-Match',
  'If-Modified-Since',
  'If-Unmodified-Since',
  'Truce-Base',
  'Idempotency-Key',
  'Lock-Token',
  'Last-Event-ID',
  'Authorization',
];

/** Request headers a page may send without a preflight (Fetch, "CORS-safelisted request-header"). */
const SAFELISTED_HEADERS = new Set([
  'accept',
  'accept-language',
  'content-language',
  'content-type',
  'range',
]);

/** The only Content-Type essences a page may send without a preflight (Fetch, "CORS-safelisted request-header"). */
const SIMPLE_MEDIA_TYPES = new Set([
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'text/plain',
]);

/** Methods a page may send without a preflight; of them only POST is unsafe. */
const SIMPLE_METHODS = new Set(['GET', 'HEAD', 'POST']);

/** Methods that never change state (RFC 9110 9.2.1): nothing to forge. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Adds the CORS layer to the plugin's scope: an onRequest hook, so that preflights and refusals
 * come before routing to a handler and before the body is read, and an onSend hook that keeps
 * `Vary: Origin` next to any Vary a route sets itself.
 */
export function registerCors(app: FastifyInstance, config: TruceConfig): void {
  const { origins, maxAge } = config.cors;
  // Answers differ by Origin only when some origin is allowed (ACAO present or not).
  const varies = origins.size > 0;
  const allowHeaders = [...TRUCE_REQUEST_HEADERS, config.actorHeaderName].join(', ');
  // Content-Type is judged by its value; an actor header named like a safelisted one proves nothing.
  const preflighted = new Set(
    [...TRUCE_REQUEST_HEADERS, config.actorHeaderName]
      .map((name) => name.toLowerCase())
      .filter((name) => !SAFELISTED_HEADERS.has(name)),
  );

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = single(request.headers.origin);
    const allowed = origin !== undefined && origins.has(origin);
    // On the raw response, so that answers written by hand (the SSE feed) carry them too.
    if (varies) reply.raw.setHeader('vary', 'Origin');
    if (allowed) {
      reply.raw.setHeader('access-control-allow-origin', origin);
      if (isPreflight(request)) {
        return reply
          .code(204)
          .headers({
            'access-control-allow-methods': ALLOW_METHODS,
            'access-control-allow-headers': allowHeaders,
            'access-control-max-age': String(maxAge),
          })
          .send();
      }
      reply.raw.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
      return;
    }
    // A preflight from an origin not allowed gets no CORS headers: the route answers OPTIONS as it
    // always does, and the browser does not send the request.
    const refusal = forgeable(request, preflighted) ? crossSiteReason(request, origin) : undefined;
    if (refusal !== undefined) {
      throw new ProblemError(
        'cross-origin-refused',
        `${refusal}, and this ${request.method} needed no preflight, so any web page could have sent it. ` +
          "Allow the page's origin in the server's cors.origins, or call from a client that is not a browser.",
      );
    }
  });

  if (varies) {
    app.addHook('onSend', async (_request, reply, payload) => {
      // A route's own Vary (e.g. Accept) replaces the raw one when the head is written: merge them.
      const own = reply.getHeader('vary');
      if (typeof own === 'string' && !/(^|,)\s*origin\s*(,|$)/i.test(own))
        reply.header('vary', `${own}, Origin`);
      return payload;
    });
  }
}

/** An OPTIONS request asking whether a cross-origin request may be sent (Fetch, "CORS-preflight request"). */
function isPreflight(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
}

/**
 * Whether a page could have made a browser send this request with no preflight, so that its
 * arrival proves nothing about the page's origin being allowed: an unsafe simple method, a
 * safelisted Content-Type or none, and none of Truce's own non-safelisted headers (a page can set
 * those only after a preflight, which an origin not allowed does not pass).
 */
function forgeable(request: FastifyRequest, preflighted: ReadonlySet<string>): boolean {
  if (SAFE_METHODS.has(request.method) || !SIMPLE_METHODS.has(request.method)) return false;
  const type = mediaTypeOf(single(request.headers['content-type']));
  if (type !== undefined && !SIMPLE_MEDIA_TYPES.has(type)) return false;
  return !Object.keys(request.headers).some((name) => preflighted.has(name));
}

/**
 * Why the request comes from a page on another site, or undefined when it does not or cannot be
 * told. `Sec-Fetch-Site` is set by the browser and no page can forge it; browsers without it are
 * judged by `Origin` (sent with every POST), against the server's own origin as the request
 * addressed it. `Origin: null` (sandboxed frames, `file:` pages, some redirects) is another site.
 * Requests with neither header come from clients that are not browsers, which no page controls.
 */
function crossSiteReason(request: FastifyRequest, origin: string | undefined): string | undefined {
  const site = single(request.headers['sec-fetch-site']);
  if (site === 'cross-site' || site === 'same-site') {
    return `The browser sent this request from another ${site === 'same-site' ? 'origin of the same site' : 'site'} (Sec-Fetch-Site: ${site}${origin === undefined ? '' : `, Origin: ${origin}`})`;
  }
  if (site === 'same-origin' || origin === undefined) return undefined;
  const own = `${request.protocol}://${request.host}`.toLowerCase();
  return origin === own
    ? undefined
    : `The request comes from a page on ${origin}, not on this server's origin ${own}`;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
