import { execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/harness.js';
import { rawExchange, sleep, type RawResponse } from '../testing/raw-http.js';

/** The HTTP/1.1 layer under the routes: timeouts, early answers, parser errors, methods. */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(`
timeouts: { request: 2s, bodyIdle: 400ms, keepAlive: 500ms, drain: 1s }
collections:
  docs: {}
`);
});
afterAll(async () => server.close());

const PROBLEM = 'application/problem+json; charset=utf-8';

function problemOf(res: RawResponse | undefined): Record<string, unknown> {
  expect(res, 'a response').toBeDefined();
  expect(res!.headers['content-type']).toBe(PROBLEM);
  return JSON.parse(res!.body) as Record<string, unknown>;
}

const post = (length: number, extra = '') =>
  `POST /docs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;

describe('timeouts', () => {
  it('a body that stops arriving gets 408 request-timeout within bodyIdle, and the connection closes', async () => {
    const ex = await rawExchange(server.url, post(100) + '{"half":', 5000);
    expect(ex.end).toBe('closed');
    expect(ex.elapsed).toBeLessThan(2500);
    expect(ex.responses[0]?.status).toBe(408);
    expect(problemOf(ex.responses[0])).toMatchObject({
      code: 'request-timeout',
      timeout: 0.4,
      instance: '/docs',
    });
    expect(ex.responses[0]?.headers['connection']).toBe('close');
  });

  it('a body that trickles in for longer than the request timeout gets 408 too', async () => {
    const ex = await rawExchange(
      server.url,
      async (socket) => {
        socket.write(post(1000));
        for (let i = 0; i < 40 && !socket.destroyed; i++) {
          socket.write(' ');
          await sleep(100);
        }
      },
      6000,
    );
    expect(ex.responses[0]?.status).toBe(408);
    expect(problemOf(ex.responses[0])).toMatchObject({ code: 'request-timeout', timeout: 2 });
    expect(ex.elapsed).toBeGreaterThanOrEqual(1900);
    expect(ex.elapsed).toBeLessThan(4000);
  });

  it('headers that never finish get 408 within the request timeout', async () => {
    const ex = await rawExchange(server.url, 'GET /docs HTTP/1.1\r\nHost: t\r\nX-Slow: 1', 6000);
    expect(ex.end).toBe('closed');
    expect(ex.elapsed).toBeLessThan(4000);
    expect(problemOf(ex.responses[0])).toMatchObject({ code: 'request-timeout', status: 408 });
  });

  it('many bodies on one kept-alive connection leave no listeners behind on its socket', async () => {
    // Long enough that neither the keep-alive nor the body watch ends during the run.
    const own = await startTestServer(`
timeouts: { request: 20s, bodyIdle: 10s, keepAlive: 5s, drain: 1s }
collections:
  docs: {}
`);
    const sockets: Socket[] = [];
    own.app.server.on('connection', (socket: Socket) => sockets.push(socket));
    const client = new Client(own.url, { pipelining: 1 });
    try {
      for (let i = 0; i < 40; i++) {
        const res = await client.request({
          method: 'POST',
          path: '/docs',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ i }),
        });
        await res.body.text();
        expect(res.statusCode).toBe(201);
      }
      expect(sockets).toHaveLength(1);
      expect(sockets[0]!.listenerCount('close')).toBeLessThan(5);
    } finally {
      await client.close();
      await own.close();
    }
  });

  it('an idle keep-alive connection is closed after keepAlive', async () => {
    const ex = await rawExchange(server.url, 'GET /_health HTTP/1.1\r\nHost: t\r\n\r\n', 5000);
    expect(ex.responses[0]?.status).toBe(200);
    expect(ex.end).toBe('closed');
    // Node.js adds a second to keepAliveTimeout; Fastify's default alone would be 72 s.
    expect(ex.elapsed).toBeLessThan(3000);
  });
});

describe('bodies that are too large', () => {
  /**
   * Runs `count` sequential 2 MiB POSTs with fetch (undici) in a process of its own, as a real
   * client would (in this process its writes would take turns with the server's reads and hide
   * the race), and counts the answers and the network errors. `chunked` sends the body as a
   * stream, without Content-Length, so the server finds it too large only while reading it.
   */
  async function bigPosts(count: number, chunked: boolean): Promise<unknown> {
    const script = `
      const body = 'x'.repeat(2 * 1024 * 1024);
      const seen = { statuses: {}, errors: [] };
      for (let i = 0; i < ${count}; i++) {
        try {
          const res = await fetch(process.argv[1] + '/docs', {
            method: 'POST', headers: { 'content-type': 'application/json' },
            ...(${chunked}
              ? { duplex: 'half', body: new Blob([body]).stream() }
              : { body }),
          });
          const problem = await res.json();
          const key = res.status + ' ' + problem.code;
          seen.statuses[key] = (seen.statuses[key] ?? 0) + 1;
        } catch (e) { seen.errors.push(String(e.cause?.code ?? e.cause ?? e)); }
      }
      console.log(JSON.stringify(seen));`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, server.url],
        { timeout: 60_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      ),
    );
    return JSON.parse(out);
  }

  it('50 sequential 2 MiB POSTs with fetch (undici) all read the 413 problem', async () => {
    expect(await bigPosts(50, false)).toEqual({ statuses: { '413 payload-too-large': 50 }, errors: [] });
  }, 70_000);

  it('so do 2 MiB bodies sent chunked, found too large only while being read', async () => {
    expect(await bigPosts(20, true)).toEqual({ statuses: { '413 payload-too-large': 20 }, errors: [] });
  }, 70_000);

  it('Expect: 100-continue with a Content-Length over the limit gets 413 at once, without 100', async () => {
    const ex = await rawExchange(server.url, post(5_000_000, 'Expect: 100-continue\r\n'), 3000);
    expect(ex.text.startsWith('HTTP/1.1 413 ')).toBe(true);
    expect(ex.text).not.toContain('100 Continue');
    expect(problemOf(ex.responses[0])).toMatchObject({ code: 'payload-too-large', limit: 1024 * 1024 });
  });

  it('Expect: 100-continue with an acceptable length still gets 100, then the answer', async () => {
    const ex = await rawExchange(
      server.url,
      async (socket) => {
        socket.write(post(9, 'Expect: 100-continue\r\n'));
        await sleep(100);
        socket.write('{"a": 1 }');
      },
      1000,
    );
    expect(ex.text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 ')).toBe(true);
  });
});

describe("Fastify's and Node's own refusals are problem+json", () => {
  const cases: [string, string, number, string][] = [
    ['bad percent-encoding', 'GET /docs/%zz HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'malformed-request'],
    [
      'a path segment over 1000 characters',
      `GET /docs/${'a'.repeat(1200)} HTTP/1.1\r\nHost: t\r\n\r\n`,
      414,
      'uri-too-long',
    ],
    [
      'headers over 16 KiB',
      `GET /docs HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'headers-too-large',
    ],
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400, 'malformed-request'],
    ['a bad HTTP version', 'GET /docs HTTP/7.3\r\nHost: t\r\n\r\n', 400, 'malformed-request'],
    [
      'Content-Length with Transfer-Encoding',
      `${post(5).trimEnd()}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      400,
      'malformed-request',
    ],
    ['an HTTP/1.1 request without Host', 'GET /docs HTTP/1.1\r\n\r\n', 400, 'malformed-request'],
  ];
  it.each(cases)('%s', async (_name, request, status, code) => {
    const ex = await rawExchange(server.url, request, 3000);
    expect(ex.responses[0]?.status).toBe(status);
    const problem = problemOf(ex.responses[0]);
    expect(problem).toMatchObject({ status, code, type: `/_problems/${code}` });
    expect(JSON.stringify(problem)).not.toContain('FST_');
  });
});

describe('methods', () => {
  it('a method Node knows but no route takes (PROPFIND) is 405 with Allow', async () => {
    for (const [path, allow] of [
      ['/docs', 'GET, POST, HEAD, OPTIONS'],
      ['/docs/x', 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS'],
      ['/_health', 'GET, HEAD, OPTIONS'],
    ] as const) {
      const ex = await rawExchange(
        server.url,
        `PROPFIND ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`,
      );
      expect(ex.responses[0]?.status, path).toBe(405);
      expect(ex.responses[0]?.headers['allow'], path).toBe(allow);
      expect(problemOf(ex.responses[0])['code']).toBe('method-not-allowed');
    }
  });

  it('a method token Node does not parse is 405 with the path’s Allow, or 404 where nothing is', async () => {
    const ex = await rawExchange(server.url, 'FROBNICATE /docs/x HTTP/1.1\r\nHost: t\r\n\r\n');
    expect(ex.responses[0]?.status).toBe(405);
    expect(ex.responses[0]?.headers['allow']).toBe('GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
    expect(problemOf(ex.responses[0])).toMatchObject({ code: 'method-not-allowed', instance: '/docs/x' });
    const missing = await rawExchange(server.url, 'FROBNICATE /nothing HTTP/1.1\r\nHost: t\r\n\r\n');
    expect(missing.responses[0]?.status).toBe(404);
    expect(problemOf(missing.responses[0])['code']).toBe('not-found');
  });

  it('CONNECT is 405 with the server’s methods, not a dropped connection', async () => {
    const ex = await rawExchange(
      server.url,
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    expect(ex.responses[0]?.status).toBe(405);
    expect(ex.responses[0]?.headers['allow']).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(problemOf(ex.responses[0])['code']).toBe('method-not-allowed');
  });

  it('OPTIONS * answers 204 with the methods the server supports', async () => {
    const ex = await rawExchange(server.url, 'OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    expect(ex.responses[0]?.status).toBe(204);
    expect(ex.responses[0]?.headers['allow']).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  });
});

describe('shutting down', () => {
  it('a request arriving on a kept-alive connection during the drain gets a 503 busy problem', async () => {
    const own = await startTestServer('collections:\n  docs: {}\n');
    let closed: Promise<void> | undefined;
    try {
      const ex = await rawExchange(
        own.url,
        async (socket) => {
          let seen = '';
          socket.on('data', (chunk: Buffer) => (seen += chunk.toString('latin1')));
          // The first request is routed before the close begins and finishes after it.
          socket.write(post(9) + '{"a":');
          await sleep(100);
          closed = own.close();
          await sleep(100);
          socket.write(' 1 }');
          for (let i = 0; i < 100 && !seen.includes('\r\n\r\n{'); i++) await sleep(20);
          socket.write('GET /_health HTTP/1.1\r\nHost: t\r\n\r\n');
        },
        3000,
      );
      expect(ex.responses.map((r) => r.status)).toEqual([201, 503]);
      expect(problemOf(ex.responses[1])).toMatchObject({ code: 'busy', status: 503 });
      expect(ex.responses[1]?.headers['connection']).toBe('close');
    } finally {
      await (closed ?? own.close());
    }
  });
});

describe('content negotiation', () => {
  it('answers that depend on Accept say Vary: Accept', async () => {
    for (const path of ['/_problems/stale-write', '/_changes', '/docs/_changes']) {
      const res = await server.request(path, { headers: { accept: 'application/json' } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('vary'), path).toBe('Accept');
      await res.arrayBuffer();
    }
    const controller = new AbortController();
    const stream = await server.request('/_changes', {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    expect(stream.headers.get('vary')).toBe('Accept');
    controller.abort();
  });
});
