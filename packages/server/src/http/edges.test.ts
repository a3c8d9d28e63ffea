import { request } from 'node:http';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { json, startTestServer, type TestServer } from '../testing/harness.js';
import { trucePlugin } from './plugin.js';

/** Edge cases found by trying the server by hand; each was once wrong. */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(`
collections:
  docs: {}
  locked: { requirePreconditions: true }
`);
});
afterAll(async () => server.close());

const body = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe('edges', () => {
  it('service routes answer OPTIONS and 405 like resource routes', async () => {
    for (const path of ['/_health', '/_openapi.json', '/_problems/stale-write']) {
      const options = await server.request(path, { method: 'OPTIONS' });
      expect(options.status, path).toBe(204);
      expect(options.headers.get('allow'), path).toBe('GET, HEAD, OPTIONS');
      const post = await server.request(path, { method: 'POST' });
      expect(post.status, path).toBe(405);
      expect((await body(post))['code']).toBe('method-not-allowed');
    }
  });

  it('requirePreconditions: a PATCH or DELETE of a missing resource is still 404', async () => {
    expect((await server.request('/locked/nobody', { method: 'DELETE' })).status).toBe(404);
    const patch = await server.request('/locked/nobody', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: '{}',
    });
    expect(patch.status).toBe(404);
    expect((await server.request('/locked/nobody', json({ a: 1 }))).status).toBe(428);
  });

  it('POST conditions are about the collection: malformed is 400, impossible ones 412', async () => {
    expect((await server.request('/docs', json({}, { 'if-match': 'garbage' }, 'POST'))).status).toBe(400);
    expect((await server.request('/docs', json({}, { 'if-match': '"x"' }, 'POST'))).status).toBe(412);
    expect((await server.request('/docs', json({}, { 'if-none-match': '*' }, 'POST'))).status).toBe(412);
    expect((await server.request('/docs', json({}, { 'if-match': '*' }, 'POST'))).status).toBe(201);
  });

  it('a weak tag in If-Match is explained, not reported as a concurrent change', async () => {
    const put = await server.request('/docs/weak', json({ a: 1 }));
    const etag = put.headers.get('etag')!;
    const res = await server.request('/docs/weak', json({ a: 2 }, { 'if-match': `W/${etag}` }));
    expect(res.status).toBe(412);
    const p = await body(res);
    expect(p['detail']).toContain('weak');
    expect(p['currentEtag']).toBe(etag);
  });

  it('past versions answer conditional GETs', async () => {
    const put = await server.request('/docs/past', json({ a: 1 }));
    const etag = put.headers.get('etag')!;
    await server.request('/docs/past', json({ a: 2 }));
    expect(
      (await server.request('/docs/past/_versions/1', { headers: { 'if-none-match': etag } })).status,
    ).toBe(304);
    expect(
      (await server.request('/docs/past/_versions/1', { headers: { 'if-match': '"other"' } })).status,
    ).toBe(412);
  });

  it('a trailing slash is not an empty id', async () => {
    const res = await server.request('/docs/');
    expect(res.status).toBe(404);
  });

  it('an actor header sent twice is refused rather than merged', async () => {
    // fetch joins repeated headers into one line; node:http sends them as two.
    const url = new URL('/docs/two-actors', server.url);
    const res = await new Promise<{ status: number; json: () => Promise<unknown> }>((resolve, reject) => {
      const req = request(
        url,
        { method: 'PUT', headers: { 'content-type': 'application/json', 'truce-actor': ['zoe', 'max'] } },
        (r) => {
          let text = '';
          r.on('data', (d: Buffer) => (text += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode!, json: async () => JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Record<string, unknown>)['errors']).toEqual([
      { header: 'Truce-Actor', message: 'must be sent once' },
    ]);
  });

  it('test-failed and patch-conflict link to the latest version', async () => {
    await server.request('/docs/jp', json({ a: 1 }));
    const patch = (ops: unknown) =>
      server.request('/docs/jp', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json' },
        body: JSON.stringify(ops),
      });
    const failed = await patch([{ op: 'test', path: '/a', value: 2 }]);
    expect(failed.status).toBe(409);
    expect(failed.headers.get('link')).toBe('</docs/jp>; rel="latest-version"');
    const conflict = await patch([{ op: 'remove', path: '/nothing' }]);
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('link')).toBe('</docs/jp>; rel="latest-version"');
  });

  it('problem types point at the plugin own pages under a prefix', async () => {
    const app = Fastify();
    const store = openSqliteStore({ path: ':memory:' });
    await app.register(trucePlugin, {
      prefix: '/api/v1',
      config: parseConfigText('collections: { a: {} }'),
      store,
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const missing = await body(await fetch(`${url}/api/v1/a/none`));
      expect(missing['type']).toBe('/api/v1/_problems/not-found');
      expect((await fetch(`${url}${missing['type'] as string}`)).status).toBe(200);
    } finally {
      await app.close();
      await store.close();
    }
  });
});
