import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayConfigError, resolveGatewayConfig } from '../config/load.js';
import { createGateway } from '../gateway.js';
import { gatewayProblem } from '../problems/answer.js';
import type { AccessControl } from './policies.js';

/** CORS on the proxy: preflights answered by the gateway, answers marked for allowed origins only. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const APP = 'http://app.example.test:5173';

async function setup(): Promise<{ url: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const upstream: Server = createServer((req, res) => {
    seen.push(req);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        etag: '"1-abc"',
        vary: 'Accept',
        // An upstream with CORS of its own: the gateway's decision must be the only one.
        'access-control-allow-origin': '*',
      });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        upstream.closeAllConnections();
        upstream.close(() => resolve());
      }),
  );
  const { port } = upstream.address() as { port: number };
  const config = resolveGatewayConfig(
    {
      gateway: {
        listen: '127.0.0.1:0',
        cors: { origins: [APP], maxAge: '5m' },
        upstreams: { shop: { targets: [`http://127.0.0.1:${port}`] } },
        routes: [
          {
            name: 'shop',
            match: { prefix: '/shop', methods: ['GET', 'PUT'] },
            upstream: 'shop',
            auth: 'key',
          },
          { name: 'open', match: { prefix: '/open' }, upstream: 'shop' },
        ],
      },
    },
    { env: {} },
  );
  // Keys are not what this test is about: every key is refused, so anything reaching auth is 401.
  const access: AccessControl = {
    authenticate: () => {
      throw gatewayProblem('unauthenticated', 'No key is valid here.');
    },
  };
  const gw = createGateway(config, { access, calls: { push: () => undefined } });
  const address = await gw.listen();
  cleanups.push(() => gw.close(1000));
  return { url: `http://127.0.0.1:${address.port}`, seen };
}

describe('CORS on the proxy', () => {
  it('answers a preflight from an allowed origin itself, with the route’s methods, even on a keyed route', async () => {
    const { url, seen } = await setup();
    const res = await fetch(`${url}/shop/products/1`, {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'content-type, if-match, x-api-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, PUT');
    const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase();
    for (const h of ['content-type', 'if-match', 'x-api-key', 'truce-base', 'idempotency-key'])
      expect(allowed).toContain(h);
    expect(res.headers.get('access-control-max-age')).toBe('300');
    expect(res.headers.get('vary')).toBe('Origin');
    expect(seen).toHaveLength(0);
  });

  it('marks answers to an allowed origin, drops the upstream’s own CORS headers and keeps its Vary', async () => {
    const { url } = await setup();
    const res = await fetch(`${url}/open/products/1`, { headers: { origin: APP } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-expose-headers')).toContain('ETag');
    expect(res.headers.get('access-control-expose-headers')).toContain('RateLimit');
    expect(res.headers.get('vary')).toBe('Accept, Origin');
    // The gateway's own refusals are readable by the page too (here: a keyed route without a key).
    const refused = await fetch(`${url}/shop/products/1`, { headers: { origin: APP } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('gives an origin it does not list no CORS headers, and forwards its OPTIONS like any request', async () => {
    const { url, seen } = await setup();
    const res = await fetch(`${url}/open/products/1`, { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toBe('Accept, Origin');
    const preflight = await fetch(`${url}/open/products/1`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-methods')).toBeNull();
    expect(seen.map((r) => r.method)).toEqual(['GET', 'OPTIONS']);
  });

  it('refuses origins that browsers would never send, with their JSON Pointer', () => {
    const bad = () =>
      resolveGatewayConfig(
        {
          gateway: {
            cors: { origins: ['https://App.example.com/', 'http://ok.test'], maxAge: '2d' },
            upstreams: { a: { targets: ['http://127.0.0.1:1'] } },
            routes: [{ name: 'a', match: { prefix: '/' }, upstream: 'a' }],
          },
        },
        { env: {} },
      );
    expect(bad).toThrow(GatewayConfigError);
    try {
      bad();
    } catch (error) {
      const pointers = (error as GatewayConfigError).issues.map((i) => i.pointer);
      expect(pointers).toEqual(expect.arrayContaining(['/gateway/cors/origins/0', '/gateway/cors/maxAge']));
      expect(pointers).not.toContain('/gateway/cors/origins/1');
    }
  });
});
