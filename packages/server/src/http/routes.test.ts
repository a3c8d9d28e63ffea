import Fastify from 'fastify';
import { problemTypes } from '@truce/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { json, openTestStore, startTestServer, type TestServer } from '../testing/harness.js';
import { trucePlugin } from './plugin.js';

const CONFIG = `
actorHeader: X-User
collections:
  notes:
    schema: { type: object, properties: { text: { type: string }, n: { type: integer }, done: { type: boolean } } }
    history: { keep: 3 }
`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(CONFIG);
});
afterAll(async () => server.close());

describe('methods', () => {
  it('OPTIONS lists what is allowed, with Accept-Patch where PATCH is', async () => {
    const item = await server.request('/notes/x', { method: 'OPTIONS' });
    expect(item.status).toBe(204);
    expect(item.headers.get('allow')).toBe('GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
    expect(item.headers.get('accept-patch')).toBe(
      'application/merge-patch+json, application/json-patch+json',
    );
    const coll = await server.request('/notes', { method: 'OPTIONS' });
    expect(coll.headers.get('allow')).toBe('GET, POST, HEAD, OPTIONS');
    expect(coll.headers.get('accept-patch')).toBeNull();
  });

  it('other methods are 405 with Allow', async () => {
    const res = await server.request('/notes', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST, HEAD, OPTIONS');
    expect((await res.json()) as object).toMatchObject({ code: 'method-not-allowed', status: 405 });
    const del = await server.request('/notes/x/_versions', { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  });

  it('HEAD answers like GET without a body', async () => {
    await server.request('/notes/head', json({ text: 'hello' }));
    const get = await server.request('/notes/head');
    const head = await server.request('/notes/head', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(get.headers.get('etag'));
    expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
    expect(await head.text()).toBe('');
  });
});

describe('representation and validators', () => {
  it('POST creates with a time-ordered server id, Location, ETag and Last-Modified', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await server.request('/notes', json({ text: `n${i}` }, { 'x-user': 'dora' }, 'POST'));
      expect(res.status).toBe(201);
      const body = (await res.json()) as Record<string, unknown>;
      expect(res.headers.get('location')).toBe(`/notes/${body['id'] as string}`);
      expect(res.headers.get('etag')).toMatch(/^"[^"]+"$/);
      expect(new Date(res.headers.get('last-modified')!).getTime()).not.toBeNaN();
      expect(body).toMatchObject({ text: `n${i}`, _version: 1, _updatedBy: 'dora' });
      expect(Object.keys(body)[0]).toBe('id');
      ids.push(body['id'] as string);
    }
    expect([...ids].sort()).toEqual(ids);
  });

  it('GET with If-None-Match or If-Modified-Since gives 304 with validators', async () => {
    const put = await server.request('/notes/cache', json({ text: 'c' }));
    const etag = put.headers.get('etag')!;
    const r1 = await server.request('/notes/cache', { headers: { 'if-none-match': `"zzz", W/${etag}` } });
    expect(r1.status).toBe(304);
    expect(r1.headers.get('etag')).toBe(etag);
    const r2 = await server.request('/notes/cache', {
      headers: { 'if-modified-since': put.headers.get('last-modified')! },
    });
    expect(r2.status).toBe(304);
    const r3 = await server.request('/notes/cache', { headers: { 'if-none-match': '"other"' } });
    expect(r3.status).toBe(200);
  });

  it('the actor header is recorded on the resource and in history', async () => {
    await server.request('/notes/who', json({ text: 'a' }, { 'x-user': 'erin' }));
    await server.request('/notes/who', json({ text: 'b' }));
    const doc = (await (await server.request('/notes/who')).json()) as Record<string, unknown>;
    expect(doc['_updatedBy']).toBeNull();
    const hist = (await (await server.request('/notes/who/_versions')).json()) as {
      items: { by: string | null }[];
    };
    expect(hist.items.map((v) => v.by)).toEqual([null, 'erin']);
  });
});

describe('history', () => {
  it('keeps the configured number of versions, newest first, each readable', async () => {
    for (let n = 1; n <= 5; n++) await server.request('/notes/h', json({ n }));
    const res = await server.request('/notes/h/_versions');
    const hist = (await res.json()) as {
      items: { version: number; etag: string; op: string }[];
      next: string | null;
    };
    expect(hist.items.map((v) => v.version)).toEqual([5, 4, 3]);
    expect(hist.items[2]!.op).toBe('update');
    const v4 = await server.request('/notes/h/_versions/4');
    expect(v4.status).toBe(200);
    expect(v4.headers.get('etag')).toBe(hist.items[1]!.etag);
    expect((await v4.json()) as object).toMatchObject({ id: 'h', n: 4, _version: 4 });
    expect((await server.request('/notes/h/_versions/1')).status).toBe(404);
    const page = (await (await server.request('/notes/h/_versions?limit=2')).json()) as {
      items: unknown[];
      next: string;
    };
    expect(page.items).toHaveLength(2);
    const rest = (await (await server.request(`/notes/h/_versions?limit=2&before=${page.next}`)).json()) as {
      items: { version: number }[];
      next: null;
    };
    expect(rest.items.map((v) => v.version)).toEqual([3]);
    expect(rest.next).toBeNull();
  });

  it('shows deletes and survives them', async () => {
    await server.request('/notes/d', json({ n: 1 }));
    await server.request('/notes/d', { method: 'DELETE' });
    const hist = (await (await server.request('/notes/d/_versions')).json()) as {
      items: { op: string; version: number }[];
    };
    expect(hist.items.map((v) => v.op)).toEqual(['delete', 'create']);
    const tomb = (await (await server.request('/notes/d/_versions/2')).json()) as Record<string, unknown>;
    expect(tomb).toMatchObject({ id: 'd', _version: 2, _deleted: true });
  });
});

describe('lists', () => {
  it('pages with a cursor and filters by typed equality', async () => {
    const list = await startTestServer('collections: { tasks: {} }');
    try {
      for (let i = 0; i < 25; i++) {
        await list.request(
          `/tasks/t${String(i).padStart(2, '0')}`,
          json({ n: i % 5, done: i % 2 === 0, tag: i % 5 === 0 ? '0' : 'x' }),
        );
      }
      const seen: string[] = [];
      let url: string | null = '/tasks?limit=10';
      while (url) {
        const res: Response = await list.request(url);
        const page = (await res.json()) as { items: { id: string }[]; next: string | null };
        seen.push(...page.items.map((i) => i.id));
        const link = res.headers.get('link');
        url = page.next ? `/tasks?limit=10&cursor=${encodeURIComponent(page.next)}` : null;
        if (page.next) expect(link).toContain('rel="next"');
      }
      expect(seen).toHaveLength(25);
      expect(new Set(seen).size).toBe(25);
      const fives = (await (await list.request('/tasks?n=0')).json()) as {
        items: { n: number; tag: string }[];
      };
      expect(fives.items).toHaveLength(5);
      const done = (await (await list.request('/tasks?done=true&n=0')).json()) as { items: unknown[] };
      expect(done.items).toHaveLength(3);
      const tagged = (await (await list.request('/tasks?tag=0')).json()) as { items: unknown[] };
      expect(tagged.items).toHaveLength(5);
      const defaults = (await (await list.request('/tasks')).json()) as {
        items: unknown[];
        next: string | null;
      };
      expect(defaults.items).toHaveLength(25);
      expect(defaults.next).toBeNull();
    } finally {
      await list.close();
    }
  });
});

describe('service routes', () => {
  it('/_health answers 200 while the store answers', async () => {
    const res = await server.request('/_health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', store: server.store.capabilities.name });
  });

  it('/_health answers 503 when the store is gone', async () => {
    const store = await openTestStore();
    const s = await startTestServer('collections: { a: {} }', { store });
    try {
      await store.close();
      const res = await s.request('/_health');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
    } finally {
      await s.app.close();
    }
  });

  it('/_openapi.json describes every collection as OpenAPI 3.1', async () => {
    const doc = (await (await server.request('/_openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown>; parameters: Record<string, { name: string }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/notes',
        '/notes/{id}',
        '/notes/{id}/_versions',
        '/notes/{id}/_versions/{version}',
      ]),
    );
    expect(Object.keys(doc.paths['/notes/{id}']!)).toEqual(
      expect.arrayContaining(['get', 'put', 'patch', 'delete']),
    );
    expect(doc.components.schemas['NotesFields']).toMatchObject({ properties: { text: { type: 'string' } } });
    expect(doc.components.parameters['Actor']!.name).toBe('X-User');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/_changes', '/notes/_changes', '/_batch', '/_openapi.json']),
    );
    expect(doc.components.parameters['TruceBase']!.name).toBe('Truce-Base');
    expect(doc.components.parameters['IdempotencyKey']!.name).toBe('Idempotency-Key');
  });

  it('/_problems/{code} documents every registered code, in HTML and JSON', async () => {
    for (const [code, entry] of Object.entries(problemTypes)) {
      const html = await server.request(`/_problems/${code}`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toMatch(/text\/html/);
      const text = await html.text();
      expect(text).toContain(code);
      expect(text).toContain(String(entry.status));
      const data = await server.request(`/_problems/${code}`, { headers: { accept: 'application/json' } });
      expect(await data.json()).toEqual(JSON.parse(JSON.stringify(entry)));
    }
    expect((await server.request('/_problems/no-such-code')).status).toBe(404);
  });
});

describe('as a plugin inside an existing Fastify app', () => {
  it('serves under a prefix next to the app own routes, keeping its parsers and errors to itself', async () => {
    const app = Fastify();
    const store = openSqliteStore({ path: ':memory:' });
    const config = parseConfigText('collections: { carts: {} }');
    app.get('/hello', async () => ({ hi: true }));
    app.post('/echo', async (request) => request.body);
    await app.register(trucePlugin, { prefix: '/api', config, store });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect(await (await fetch(`${url}/hello`)).json()).toEqual({ hi: true });
      const echo = await fetch(`${url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      expect(await echo.json()).toEqual({ a: 1 });
      const created = await fetch(`${url}/api/carts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"items":[]}',
      });
      expect(created.status).toBe(201);
      const location = created.headers.get('location')!;
      expect(location).toMatch(/^\/api\/carts\//);
      const etag = created.headers.get('etag')!;
      await fetch(`${url}${location}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{"items":[1]}',
      });
      const stale = await fetch(`${url}${location}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'if-match': etag },
        body: '{}',
      });
      expect(stale.status).toBe(412);
      expect(stale.headers.get('link')).toBe(`<${location}>; rel="latest-version"`);
      const missing = await fetch(`${url}/api/nothing/here/x/y`);
      expect(missing.headers.get('content-type')).toMatch(/problem\+json/);
      const openapi = (await (await fetch(`${url}/api/_openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      expect(Object.keys(openapi.paths)).toContain('/api/carts/{id}');
    } finally {
      await app.close();
      await store.close();
    }
  });
});
