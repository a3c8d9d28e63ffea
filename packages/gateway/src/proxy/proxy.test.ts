import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../config/load.js';
import type { CallRecord } from '../calls/record.js';
import { createGateway, type Gateway } from '../gateway.js';
import type { AccessControl } from './policies.js';

/** A plain upstream that echoes what it received, or answers as `answer` says. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
async function upstream(
  answer: (req: IncomingMessage, res: ServerResponse, body: string) => void = echo,
): Promise<{ server: Server; url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function echo(req: IncomingMessage, res: ServerResponse, body: string): void {
  res.writeHead(200, {
    'content-type': 'application/json',
    connection: 'keep-alive',
    'keep-alive': 'timeout=99',
    'x-upstream': 'yes',
  });
  res.end(JSON.stringify({ method: req.method, url: req.url, body }));
}

const open: AccessControl = {
  authenticate: () => {
    throw new Error('no keys in these tests');
  },
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function gateway(
  block: Record<string, unknown>,
): Promise<{ gw: Gateway; url: string; calls: CallRecord[] }> {
  const config = resolveGatewayConfig({ gateway: { listen: '127.0.0.1:0', ...block } }, { env: {} });
  const calls: CallRecord[] = [];
  const gw = createGateway(config, { access: open, calls: { push: (r) => calls.push(r) } });
  const address = await gw.listen();
  cleanups.push(() => gw.close(1000));
  return { gw, url: `http://127.0.0.1:${address.port}`, calls };
}

async function start(answer?: Parameters<typeof upstream>[0]) {
  const up = await upstream(answer);
  cleanups.push(up.close);
  return up;
}

describe('routing', () => {
  it('matches the longest prefix at segment boundaries, and 404s the rest with no-route', async () => {
    const a = await start();
    const b = await start();
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] }, b: { targets: [b.url] } },
      routes: [
        { name: 'shop', match: { prefix: '/shop' }, upstream: 'a' },
        { name: 'shop-admin', match: { prefix: '/shop/admin/' }, upstream: 'b' },
      ],
    });
    expect((await fetch(`${url}/shop/x`)).status).toBe(200);
    expect((await fetch(`${url}/shop`)).status).toBe(200);
    expect((await fetch(`${url}/shop/admin/users`)).status).toBe(200);
    const miss = await fetch(`${url}/shopping`);
    expect(miss.status).toBe(404);
    expect(miss.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await miss.json()).toMatchObject({ code: 'no-route', status: 404, type: '/_problems/no-route' });
    expect(a.seen.map((s) => s.url)).toEqual(['/shop/x', '/shop']);
    expect(b.seen.map((s) => s.url)).toEqual(['/shop/admin/users']);
  });

  it('prefers a route with a host at equal prefix, compares hosts without port and case', async () => {
    const a = await start();
    const b = await start();
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] }, b: { targets: [b.url] } },
      routes: [
        { name: 'any', match: { prefix: '/api' }, upstream: 'a' },
        { name: 'hosted', match: { prefix: '/api', host: 'API.example.com' }, upstream: 'b' },
      ],
    });
    await get(url, '/api/1', { host: 'api.EXAMPLE.com:8443' });
    await get(url, '/api/2', { host: 'other.example.com' });
    expect(b.seen.map((s) => s.url)).toEqual(['/api/1']);
    expect(a.seen.map((s) => s.url)).toEqual(['/api/2']);
  });

  it('answers 405 with Allow when the route leaves the method out', async () => {
    const a = await start();
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [{ name: 'ro', match: { prefix: '/ro', methods: ['GET'] }, upstream: 'a' }],
    });
    const res = await fetch(`${url}/ro/x`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect((await res.json()).code).toBe('method-not-allowed');
    expect(a.seen).toEqual([]);
  });

  it('normalises dot segments and encoded unreserved characters before routing, and refuses encoded slashes', async () => {
    const pub = await start();
    const secret = await start();
    const { url } = await gateway({
      upstreams: { pub: { targets: [pub.url] }, secret: { targets: [secret.url] } },
      routes: [
        { name: 'pub', match: { prefix: '/public' }, upstream: 'pub' },
        { name: 'secret', match: { prefix: '/secret', methods: ['GET'] }, upstream: 'secret' },
      ],
    });
    // Spelled to look like /public, but an upstream would read /secret: it must be routed as /secret.
    const sneaky = await rawRequest(
      url,
      'DELETE /public/../secret/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(sneaky).toMatch(/^HTTP\/1.1 405/);
    const encoded = await rawRequest(
      url,
      'DELETE /%70ublic/%2e%2e/secret/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(encoded).toMatch(/^HTTP\/1.1 405/);
    const slash = await rawRequest(
      url,
      'GET /public%2F..%2Fsecret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(slash).toMatch(/^HTTP\/1.1 400/);
    expect(slash).toContain('"code":"malformed-request"');
    expect(pub.seen).toEqual([]);
    expect(secret.seen).toEqual([]);
  });
});

describe('forwarding', () => {
  it('cancels the upstream request when the client leaves before the answer', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    // An upstream that never answers: only the gateway giving up on it closes its request.
    const up = await start((req) => req.socket.once('close', upstreamClosed));
    const { url, calls } = await gateway({
      upstreams: { a: { targets: [up.url] } },
      routes: [{ name: 'slow', match: { prefix: '/slow' }, upstream: 'a' }],
    });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.write('GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => up.seen.length).toBe(1);
    socket.destroy();
    await closed;
    await expect.poll(() => calls.length).toBe(1);
    expect(calls[0]).toMatchObject({ route: 'slow', path: '/slow/1' });
  });

  it('streams a large answer to a slow client whole, and keeps only log.bodies of it', async () => {
    const size = 16 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const up = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      let sent = 0;
      const more = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const { url, calls } = await gateway({
      log: { bodies: '1kb' },
      upstreams: { a: { targets: [up.url] } },
      routes: [{ name: 'big', match: { prefix: '/big' }, upstream: 'a' }],
    });
    const received = await new Promise<number>((resolve, reject) => {
      httpRequest(`${url}/big/1`, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          // A slow reader: the gateway must pause the upstream rather than buffer the whole answer.
          res.pause();
          setTimeout(() => res.resume(), bytes < 1024 * 1024 ? 5 : 0);
        });
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    expect(received).toBe(size);
    await expect.poll(() => calls.length).toBe(1);
    expect(calls[0]).toMatchObject({ status: 200, responseBytes: size });
    expect(calls[0]!.responseBody).toMatchObject({ truncated: true });
    expect(calls[0]!.responseBody!.data).toHaveLength(1024);
  });

  it('cuts the upstream answer off when the client leaves in the middle of it', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    // Headers and a first chunk, then nothing: only the gateway giving up closes the connection.
    const up = await start((req, res) => {
      req.socket.once('close', upstreamClosed);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part');
    });
    const { url, calls } = await gateway({
      upstreams: { a: { targets: [up.url] } },
      routes: [{ name: 'half', match: { prefix: '/half' }, upstream: 'a' }],
    });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.write('GET /half/1 HTTP/1.1\r\nHost: x\r\n\r\n');
    let seen = '';
    socket.on('data', (c: Buffer) => (seen += c.toString('latin1')));
    await expect.poll(() => seen.includes('first part')).toBe(true);
    socket.destroy();
    await closed;
    await expect.poll(() => calls.length).toBe(1);
    expect(calls[0]).toMatchObject({ route: 'half', status: 200 });
  });

  it('records request headers in lower case, repeated ones joined with commas', async () => {
    const up = await start();
    const { url, calls } = await gateway({
      upstreams: { a: { targets: [up.url] } },
      routes: [{ name: 'r', match: { prefix: '/r' }, upstream: 'a' }],
    });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.write('GET /r/1 HTTP/1.1\r\nHost: x\r\nX-Many: one\r\nx-many: two\r\nConnection: close\r\n\r\n');
    socket.resume();
    await expect.poll(() => calls.length).toBe(1);
    socket.destroy();
    expect(calls[0]!.requestHeaders).toMatchObject({ host: 'x', 'x-many': 'one, two', connection: 'close' });
  });

  it('strips the prefix, and gives Location and Link references the prefix back', async () => {
    const a = await start((req, res) => {
      res.writeHead(201, {
        location: '/orders/7',
        link: '</orders/7>; rel="latest-version", <https://x.test/a>; rel="other"',
      });
      res.end();
    });
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [{ name: 'shop', match: { prefix: '/shop/' }, stripPrefix: true, upstream: 'a' }],
    });
    const res = await fetch(`${url}/shop/orders?x=1`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/shop/orders/7');
    expect(res.headers.get('link')).toBe(
      '</shop/orders/7>; rel="latest-version", <https://x.test/a>; rel="other"',
    );
    expect(a.seen[0]!.url).toBe('/orders?x=1');
  });

  it('drops hop-by-hop and client-set gateway headers, sets X-Forwarded-*, and keeps or makes request ids and traces', async () => {
    const a = await start();
    const { url, calls } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [{ name: 'r', match: { prefix: '/' }, upstream: 'a' }],
    });
    const res = await get(url, '/x', {
      host: 'shop.test',
      connection: 'keep-alive, x-secret-hop',
      'x-secret-hop': '1',
      'truce-actor': 'mallory',
      'x-request-id': 'client-id.1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-forwarded-for': '10.0.0.1',
    });
    const seen = a.seen[0]!.headers;
    expect(seen['x-secret-hop']).toBeUndefined();
    expect(seen['truce-actor']).toBeUndefined();
    expect(seen['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(seen['x-forwarded-host']).toBe('shop.test');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-request-id']).toBe('client-id.1');
    expect(seen['traceparent']).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(seen['traceparent']).not.toContain('b7ad6b7169203331');
    expect(res.headers['x-request-id']).toBe('client-id.1');
    expect(res.headers['traceparent']).toBe(seen['traceparent']);
    expect(res.headers['keep-alive']).not.toBe('timeout=99');
    expect(res.headers['x-upstream']).toBe('yes');

    await get(url, '/y', { 'x-request-id': 'bad id with spaces', traceparent: 'ff-nonsense' });
    const second = a.seen[1]!.headers;
    expect(second['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(second['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(calls.map((c) => c.requestId)).toEqual(['client-id.1', second['x-request-id']]);
  });

  it('passes a problem answer through byte for byte and records its code and resource', async () => {
    const problem = JSON.stringify({
      type: '/_problems/stale-write',
      status: 412,
      code: 'stale-write',
      title: 't',
      detail: 'd',
    });
    const a = await start((_req, res) => {
      res.writeHead(412, { 'content-type': 'application/problem+json; charset=utf-8', etag: '"2-x"' });
      res.end(problem);
    });
    const { url, calls } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [{ name: 'shop', match: { prefix: '/shop' }, stripPrefix: true, upstream: 'a' }],
    });
    const res = await fetch(`${url}/shop/products/hammer`, {
      method: 'PUT',
      body: '{}',
      headers: { 'if-match': '"1-y"' },
    });
    expect(res.status).toBe(412);
    expect(await res.text()).toBe(problem);
    expect(res.headers.get('etag')).toBe('"2-x"');
    await until(() => calls.length === 1);
    expect(calls[0]).toMatchObject({
      status: 412,
      code: 'stale-write',
      resource: '/products/hammer',
      route: 'shop',
      conditional: true,
      method: 'PUT',
      path: '/shop/products/hammer',
    });
  });

  it('answers 413 for a body over maxBody without resetting the connection, and the upstream never sees it', async () => {
    const a = await start();
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [{ name: 'r', match: { prefix: '/' }, upstream: 'a', maxBody: '1mb' }],
    });
    const big = Buffer.alloc(2 * 1024 * 1024, 97);
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${url}/x`, {
        method: 'POST',
        body: big,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ code: 'payload-too-large', limit: 1024 * 1024 });
    }
    // Chunked, with no declared length: counted as it streams.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${url}/y`,
        { method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 40; i++) req.write(Buffer.alloc(64 * 1024, 98));
      req.end();
    });
    expect(chunked).toBe(413);
    expect(a.seen.filter((s) => s.body.length > 1024 * 1024)).toEqual([]);
  });

  it('refuses a request with both Content-Length and Transfer-Encoding with a 400 problem', async () => {
    const a = await start();
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [{ name: 'r', match: { prefix: '/' }, upstream: 'a' }],
    });
    const answer = await rawRequest(
      url,
      'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect(answer).toContain('application/problem+json');
    expect(answer).toContain('"code":"malformed-request"');
    expect(a.seen).toEqual([]);
  });

  it('serves its own problem pages before routing', async () => {
    const a = await start();
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [{ name: 'r', match: { prefix: '/' }, upstream: 'a' }],
    });
    const page = await fetch(`${url}/_problems/no-healthy-upstream`, {
      headers: { accept: 'application/json' },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('vary')).toBe('Accept');
    expect(await page.json()).toMatchObject({ code: 'no-healthy-upstream', status: 503 });
    expect(a.seen).toEqual([]);
  });
});

describe('targets, retries and health', () => {
  it('spreads by weight, retries an idempotent request on another target when one is down, and ejects it', async () => {
    const a = await start((_q, res) => res.end('a'));
    const b = await start((_q, res) => res.end('b'));
    const { url, gw } = await gateway({
      upstreams: {
        u: { targets: [a.url, { url: b.url, weight: 2 }], passive: { failures: 2, ejectFor: '1h' } },
      },
      routes: [{ name: 'r', match: { prefix: '/' }, upstream: 'u' }],
    });
    const first = await Promise.all(Array.from({ length: 6 }, () => fetch(`${url}/x`).then((r) => r.text())));
    expect(first.filter((t) => t === 'a')).toHaveLength(2);
    expect(first.filter((t) => t === 'b')).toHaveLength(4);
    await a.close();
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${url}/x`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('b');
    }
    const [down] = gw.upstreams.get('u')!.targets;
    expect(down!.state().healthy).toBe(false);
    // A POST without an Idempotency-Key is not repeated: with only the dead target left it fails honestly.
  });

  it('does not retry an unkeyed POST, retries a keyed one, and answers 503 when no target is healthy', async () => {
    const dead = await start();
    await dead.close();
    const live = await start();
    const { url } = await gateway({
      upstreams: {
        u: {
          targets: [dead.url, live.url],
          balance: 'round-robin',
          passive: { failures: 100, ejectFor: '1h' },
        },
        gone: { targets: [dead.url], passive: { failures: 1, ejectFor: '1h' } },
      },
      routes: [
        { name: 'r', match: { prefix: '/' }, upstream: 'u' },
        { name: 'g', match: { prefix: '/gone' }, upstream: 'gone' },
      ],
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await fetch(`${url}/p`, { method: 'POST', body: 'x' })).status);
    expect(statuses.filter((s) => s === 502)).toHaveLength(2);
    expect(live.seen).toHaveLength(2);
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${url}/p`, {
        method: 'POST',
        body: 'x',
        headers: { 'idempotency-key': `k${i}` },
      });
      expect(res.status).toBe(200);
    }
    const bad = await fetch(`${url}/gone/x`);
    expect(bad.status).toBe(502);
    const none = await fetch(`${url}/gone/x`);
    expect(none.status).toBe(503);
    expect(none.headers.get('retry-after')).toBe('5');
    expect(await none.json()).toMatchObject({ code: 'no-healthy-upstream', upstream: 'gone' });
  });

  it('answers 504 when the upstream is too slow, and active checks take a target out and back', async () => {
    let healthy = true;
    const slow = await start((req, res) => {
      if (req.url === '/health') {
        res.writeHead(healthy ? 200 : 500).end();
        return;
      }
      setTimeout(() => res.end('late'), 1_000);
    });
    const { url, gw } = await gateway({
      upstreams: {
        u: {
          targets: [slow.url],
          timeouts: { response: '200ms' },
          healthCheck: { path: '/health', interval: '100ms', timeout: '100ms', healthy: 2, unhealthy: 2 },
        },
      },
      routes: [{ name: 'r', match: { prefix: '/' }, upstream: 'u' }],
    });
    const res = await fetch(`${url}/x`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ code: 'upstream-timeout', timeout: 200 });
    const target = gw.upstreams.get('u')!.targets[0]!;
    healthy = false;
    await until(() => !target.state().healthy);
    expect((await fetch(`${url}/x`)).status).toBe(503);
    healthy = true;
    await until(() => target.state().healthy);
  });
});

describe('policies without keys', () => {
  it('sends lifecycle headers and answers 410 after the sunset without calling the upstream', async () => {
    const a = await start();
    const { url, calls } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [
        { name: 'current', match: { prefix: '/v2' }, upstream: 'a' },
        {
          name: 'v1',
          match: { prefix: '/v1' },
          upstream: 'a',
          lifecycle: { deprecated: '2026-01-01', sunset: '2099-01-01', link: '/v2' },
        },
        {
          name: 'v0',
          match: { prefix: '/v0' },
          upstream: 'a',
          lifecycle: { deprecated: '2020-01-01', sunset: '2021-06-30T12:00:00Z', link: '/v2' },
        },
      ],
    });
    const v1 = await fetch(`${url}/v1/x`);
    expect(v1.status).toBe(200);
    expect(v1.headers.get('deprecation')).toBe(`@${Date.UTC(2026, 0, 1) / 1000}`);
    expect(v1.headers.get('sunset')).toBe('Thu, 01 Jan 2099 00:00:00 GMT');
    expect(v1.headers.get('link')).toBe('</v2>; rel="successor-version"');
    const v0 = await fetch(`${url}/v0/x`);
    expect(v0.status).toBe(410);
    expect(await v0.json()).toMatchObject({
      code: 'sunset',
      successor: '/v2',
      sunset: '2021-06-30T12:00:00.000Z',
    });
    expect(v0.headers.get('link')).toBe('</v2>; rel="successor-version"');
    expect(a.seen).toHaveLength(1);
    // Calls to routes with a lifecycle, the 410 included, are marked for the lifecycle report.
    expect((await fetch(`${url}/v2/x`)).status).toBe(200);
    await until(() => calls.length === 3);
    expect(calls.map((c) => [c.route, c.status, c.lifecycle])).toEqual([
      ['v1', 200, true],
      ['v0', 410, true],
      ['current', 200, false],
    ]);
  });

  it('guards unconditional writes: enforce answers 428 without calling the upstream, warn marks them', async () => {
    const a = await start();
    const { gw, url, calls } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [
        { name: 'strict', match: { prefix: '/strict' }, upstream: 'a', requirePreconditions: 'enforce' },
        { name: 'lax', match: { prefix: '/lax' }, upstream: 'a', requirePreconditions: 'warn' },
      ],
    });
    const refused = await fetch(`${url}/strict/x`, { method: 'PUT', body: '{}' });
    expect(refused.status).toBe(428);
    expect((await refused.json()).code).toBe('precondition-required');
    expect(
      (await fetch(`${url}/strict/x`, { method: 'PUT', body: '{}', headers: { 'if-match': '"1"' } })).status,
    ).toBe(200);
    const warned = await fetch(`${url}/lax/x`, { method: 'DELETE' });
    expect(warned.status).toBe(200);
    expect(warned.headers.get('truce-warning')).toBe('unconditional-write');
    expect(a.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['PUT /strict/x', 'DELETE /lax/x']);
    await until(() => calls.length === 3);
    expect(calls.find((c) => c.path === '/lax/x')).toMatchObject({
      unconditionalWarned: true,
      conditional: false,
    });
    // Each decision on /metrics, by route: a read is none, and If-None-Match does not satisfy the guard.
    await fetch(`${url}/lax/x`);
    await fetch(`${url}/lax/x`, { method: 'PUT', body: '{}', headers: { 'if-none-match': '*' } });
    const metrics = (await gw.metrics.text()).body;
    expect(metrics.split('\n').filter((l) => l.startsWith('truce_gateway_guard_decisions_total'))).toEqual([
      'truce_gateway_guard_decisions_total{route="strict",decision="refused"} 1',
      'truce_gateway_guard_decisions_total{route="strict",decision="passed"} 1',
      'truce_gateway_guard_decisions_total{route="lax",decision="warned"} 2',
    ]);
  });

  it('rate limits by address with the IETF fields on every answer, and a 429 uses no quota', async () => {
    const a = await start();
    const { url } = await gateway({
      upstreams: { a: { targets: [a.url] } },
      routes: [
        {
          name: 'lim',
          match: { prefix: '/' },
          upstream: 'a',
          rateLimit: { limit: 3, window: '1m', by: 'ip' },
        },
      ],
    });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await fetch(`${url}/x`));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    expect(answers[0]!.headers.get('ratelimit-policy')).toBe('"lim";q=3;w=60');
    expect(answers.map((r) => r.headers.get('ratelimit')?.split(';')[1])).toEqual([
      'r=2',
      'r=1',
      'r=0',
      'r=0',
      'r=0',
    ]);
    expect(Number(answers[3]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(19);
    expect(await answers[3]!.json()).toMatchObject({ code: 'rate-limited', limit: 3, window: 60 });
    expect(a.seen).toHaveLength(3);
  });
});

async function get(base: string, path: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    req.end();
  });
}

async function rawRequest(base: string, text: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy());
    socket.write(text);
  });
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
