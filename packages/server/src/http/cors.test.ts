import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load.js';
import { startTestServer, type TestServer } from '../testing/harness.js';
import { registerCors } from './cors.js';

/*
 * Cross-origin rules (docs/http-api.md, "Cross-origin requests") through real HTTP: preflights,
 * the headers of answers to allowed origins, and the refusal of simple cross-site requests that
 * could change state. Headers a browser sets itself (Origin, Sec-Fetch-Site) are set by hand here,
 * as a browser would; test/browser-cors.test.ts runs the same rules in Chromium.
 */
const APP = 'http://app.example';
const EVIL = 'https://evil.example';

const TASKS = `
collections:
  tasks:
    states:
      field: status
      initial: open
      transitions:
        close: { from: [open], to: closed }
`;

let server: TestServer;
let open: TestServer;
beforeAll(async () => {
  server = await startTestServer(`
actorHeader: X-User
cors:
  origins: ['${APP}', 'http://127.0.0.1:9']
  maxAge: 120
${TASKS}`);
  // No cors section: no CORS headers at all, and still no forged writes.
  open = await startTestServer(TASKS);
});
afterAll(async () => {
  await server?.close();
  await open?.close();
});

let n = 0;
/** A fresh open task; returns its path. */
async function task(on: TestServer = server): Promise<string> {
  const id = `t${++n}`;
  const res = await on.request('/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id }),
  });
  expect(res.status).toBe(201);
  return `/tasks/${id}`;
}

async function statusOf(path: string, on: TestServer = server): Promise<unknown> {
  return ((await (await on.request(path)).json()) as { status?: unknown }).status;
}

const corsHeaders = (res: Response) => {
  const names: string[] = [];
  res.headers.forEach((_value, name) => void (name.startsWith('access-control-') && names.push(name)));
  return names;
};

describe('preflight', () => {
  it('is answered 204 for an allowed origin, with what Truce needs, before any route', async () => {
    const path = await task();
    for (const url of [`${path}/_transitions/close`, `${path}/_lock`, '/tasks', '/nowhere/at/all']) {
      const res = await server.request(url, {
        method: 'OPTIONS',
        headers: {
          origin: APP,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'idempotency-key, x-user',
        },
      });
      expect(res.status, url).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), url).toBe(APP);
      expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE');
      const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase().split(', ');
      for (const name of [
        'content-type',
        'if-match',
        'if-none-match',
        'if-modified-since',
        'if-unmodified-since',
        'truce-base',
        'idempotency-key',
        'lock-token',
        'x-user',
      ])
        expect(allowed, name).toContain(name);
      expect(res.headers.get('access-control-max-age')).toBe('120');
      expect(res.headers.get('vary')).toBe('Origin');
      // Credentials (cookies) are never allowed: Truce has no cookie-based sessions to protect.
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('gets no CORS headers for an origin not allowed, or for none: the route answers OPTIONS itself', async () => {
    const path = await task();
    for (const origin of [EVIL, 'null', 'http://APP.example', `${APP}/`, undefined]) {
      const res = await server.request(`${path}/_transitions/close`, {
        method: 'OPTIONS',
        headers: { 'access-control-request-method': 'POST', ...(origin ? { origin } : {}) },
      });
      expect(res.status, origin).toBe(204);
      expect(corsHeaders(res), origin).toEqual([]);
      expect(res.headers.get('allow')).toBe('POST, OPTIONS');
      expect(res.headers.get('vary')).toBe('Origin');
    }
  });
});

describe('answers to an allowed origin', () => {
  it('name the origin and expose the headers clients read, on successes and problems alike', async () => {
    const path = await task();
    const expose = [
      'etag',
      'location',
      'link',
      'retry-after',
      'truce-merged',
      'idempotent-replayed',
      'last-modified',
    ];
    for (const [url, status] of [
      [path, 200],
      ['/tasks/missing', 404],
      [`${path}/_transitions/close`, 405],
    ] as const) {
      const res = await server.request(url, { headers: { origin: APP } });
      expect(res.status, url).toBe(status);
      expect(res.headers.get('access-control-allow-origin'), url).toBe(APP);
      expect(res.headers.get('vary'), url).toBe('Origin');
      const exposed = res.headers.get('access-control-expose-headers')!.toLowerCase().split(', ');
      for (const name of expose) expect(exposed, name).toContain(name);
    }
  });

  it('include the change feed as an event stream, which is written by hand', async () => {
    const stop = new AbortController();
    try {
      const res = await server.request('/_changes', {
        headers: { origin: APP, accept: 'text/event-stream' },
        signal: stop.signal,
      });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(res.headers.get('access-control-allow-origin')).toBe(APP);
      expect(res.headers.get('vary')).toBe('Accept, Origin');
    } finally {
      stop.abort();
    }
  });

  it("keep Vary: Origin next to a route's own Vary", async () => {
    // No Truce route sets Vary today; one of the routes an embedding app adds next to the layer can.
    const app = Fastify();
    registerCors(app, parseConfigText(`cors: { origins: ['${APP}'] }\ncollections: {}`));
    app.get('/negotiated', async (_request, reply) => reply.header('vary', 'Accept').send('x'));
    app.get('/plain', async () => 'x');
    try {
      for (const origin of [APP, EVIL]) {
        const negotiated = await app.inject({ url: '/negotiated', headers: { origin } });
        expect(negotiated.headers['vary']).toBe('Accept, Origin');
        expect((await app.inject({ url: '/plain', headers: { origin } })).headers['vary']).toBe('Origin');
      }
    } finally {
      await app.close();
    }
  });

  it('are not given to other origins, and without a cors section nobody gets any', async () => {
    const path = await task();
    const evil = await server.request(path, { headers: { origin: EVIL } });
    expect(evil.status).toBe(200);
    expect(corsHeaders(evil)).toEqual([]);
    expect(evil.headers.get('vary')).toBe('Origin');
    const plain = await open.request(`/tasks`, { headers: { origin: APP } });
    expect(plain.status).toBe(200);
    expect(corsHeaders(plain)).toEqual([]);
    expect(plain.headers.get('vary')).toBeNull();
  });
});

describe('simple cross-site requests that could change state', () => {
  const refused = async (res: Response) => {
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'cross-origin-refused', status: 403 });
    expect(corsHeaders(res)).toEqual([]);
    return body;
  };

  it.each([
    ['Origin of another site, no Sec-Fetch-Site (older browsers)', { origin: EVIL }],
    ['Sec-Fetch-Site: cross-site', { origin: EVIL, 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { origin: 'http://other.app.example', 'sec-fetch-site': 'same-site' }],
    ['Sec-Fetch-Site without Origin', { 'sec-fetch-site': 'cross-site' }],
    ['Origin: null (sandboxed frame, file: page)', { origin: 'null' }],
    ['an Origin that only looks like an allowed one', { origin: 'http://app.example.evil.example' }],
  ])('a body-less transition is refused and changes nothing: %s', async (_name, headers) => {
    for (const on of [server, open]) {
      const path = await task(on);
      const body = await refused(await on.request(`${path}/_transitions/close`, { method: 'POST', headers }));
      expect(body['detail']).toMatch(/no preflight/);
      expect(await statusOf(path, on)).toBe('open');
    }
  });

  it('an actor header named like a safelisted one does not count as proof of a preflight', async () => {
    const lax = await startTestServer(`actorHeader: Content-Language\n${TASKS}`);
    try {
      const path = await task(lax);
      const res = await lax.request(`${path}/_transitions/close`, {
        method: 'POST',
        headers: { origin: EVIL, 'content-language': 'mallory' },
      });
      await refused(res);
      expect(await statusOf(path, lax)).toBe('open');
    } finally {
      await lax.close();
    }
  });

  it('a body-less _lock is refused and takes no lease', async () => {
    const path = await task();
    await refused(await server.request(`${path}/_lock`, { method: 'POST', headers: { origin: EVIL } }));
    // A lease would make this unconditional write 423.
    const put = await server.request(path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'open', note: 'still writable' }),
    });
    expect(put.status).toBe(200);
  });

  it('forms and text/plain bodies are refused before they are read, on every unsafe route', async () => {
    const forms: [string, string, string][] = [
      ['/tasks', 'application/x-www-form-urlencoded', 'id=forged'],
      ['/tasks', 'multipart/form-data; boundary=x', '--x--'],
      // The text/plain trick: a form field named so that the body is valid JSON.
      [
        '/_batch',
        'text/plain',
        '{"operations":[{"method":"POST","path":"/tasks","body":{"id":"forged"}}],"x":"="}',
      ],
      ['/tasks', 'TEXT/Plain ; charset=utf-8', '{"id":"forged"}'],
    ];
    for (const [url, type, payload] of forms) {
      await refused(
        await server.request(url, {
          method: 'POST',
          headers: { origin: EVIL, 'content-type': type },
          body: payload,
        }),
      );
    }
    expect((await server.request('/tasks/forged')).status).toBe(404);
  });

  it('still pass when the browser must have asked first, or when no browser is involved', async () => {
    const path = await task();
    const transition = (headers: Record<string, string>) =>
      server.request(`${path}/_transitions/close`, { method: 'POST', headers });
    // A JSON body or one of Truce's own headers cannot be sent cross-origin without a preflight,
    // which an origin not allowed fails: such a request did not come from that origin's page.
    expect((await transition({ origin: EVIL, 'content-type': 'application/json' })).status).not.toBe(403);
    for (const headers of [
      { origin: EVIL, 'idempotency-key': 'k-1' },
      { origin: EVIL, 'x-user': 'mallory' },
      {}, // curl, the SDK in Node: no Origin
      { 'sec-fetch-site': 'none' }, // typed into the address bar
      { origin: server.url }, // the server's own origin
      { origin: EVIL, 'sec-fetch-site': 'same-origin' }, // the browser's word wins
      { origin: APP, 'sec-fetch-site': 'cross-site' }, // an allowed origin
    ]) {
      const fresh = await task();
      const res = await server.request(`${fresh}/_transitions/close`, { method: 'POST', headers });
      expect(res.status, JSON.stringify(headers)).toBe(200);
      expect(await statusOf(fresh)).toBe('closed');
    }
    // PUT, PATCH and DELETE are never simple: a browser always asks first.
    const other = await task();
    const del = await server.request(other, { method: 'DELETE', headers: { origin: EVIL } });
    expect(del.status).toBe(204);
    // Safe methods are never refused; the browser just keeps the answer from the page.
    expect(
      (await server.request('/tasks', { headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } })).status,
    ).toBe(200);
  });
});
