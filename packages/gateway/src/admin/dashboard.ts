import { loadDashboard, type DashboardFile } from '@truce/dashboard';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { gatewayProblem } from '../problems/answer.js';

/**
 * What the dashboard's pages may do: its own scripts and styles (uPlot sizes its canvases through
 * style attributes), requests to the admin API it came from and to the proxy, nothing else.
 */
function policy(proxyPort: number): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    // The playground calls the proxy on the page's host (any host name, the proxy's port only).
    `connect-src 'self' http://*:${proxyPort} https://*:${proxyPort}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The dashboard (SPEC 5.5) at `GET /` and `GET /assets/…` of the admin port: files built into
 * `@truce/dashboard`, held in memory and served by exact path (no file system lookup a request
 * could steer), gzipped when the client accepts it, revalidated by ETag. They need no admin key:
 * the page asks for it and sends it with each API call.
 */
export function registerDashboard(app: FastifyInstance, proxyPort: number, files = loadDashboard()): void {
  const csp = policy(proxyPort);
  const tagged = new Map<string, DashboardFile & { etag: string }>();
  for (const [path, file] of files ?? []) {
    const etag = `"${createHash('sha256').update(file.body).digest('base64url').slice(0, 22)}"`;
    tagged.set(path, { ...file, etag });
  }
  const serve = async (request: FastifyRequest, reply: FastifyReply, path: string) => {
    const file = tagged.get(path);
    if (!file) {
      if (path === '/')
        throw gatewayProblem(
          'not-found',
          'The dashboard is not built in this installation: run npm run build in the Truce workspace.',
        );
      throw gatewayProblem('not-found', `The dashboard has no file ${path}.`);
    }
    reply
      .header('content-type', file.type)
      .header('etag', file.etag)
      .header('vary', 'Accept-Encoding')
      .header('cache-control', path === '/' ? 'no-cache' : 'public, max-age=300, must-revalidate')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer');
    if (path === '/') reply.header('content-security-policy', csp).header('x-frame-options', 'DENY');
    if (ifNoneMatch(request.headers['if-none-match'], file.etag)) return reply.code(304).send();
    const gzip = file.gzip && /\bgzip\b/i.test(String(request.headers['accept-encoding'] ?? ''));
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? file.gzip : file.body);
  };
  app.get('/', (request, reply) => serve(request, reply, '/'));
  app.get('/assets/*', (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    return serve(request, reply, `/assets/${rest}`);
  });
}

function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header === '*' || header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}
