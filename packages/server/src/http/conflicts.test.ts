import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

const CONFIG = `
collections:
  documents:
    schema: { type: object, properties: { title: { type: string }, n: { type: integer } } }
  strict:
    requirePreconditions: true
  lenient:
    staleWriteStatus: 409
`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(CONFIG);
});
afterAll(async () => server.close());

async function create(path: string, body: Record<string, unknown>, actor = 'setup') {
  const res = await server.request(path, json(body, { 'truce-actor': actor }));
  expect(res.status).toBe(201);
  return { etag: res.headers.get('etag')!, body: (await res.json()) as Record<string, unknown> };
}

describe('lost updates', () => {
  it('two clients read one version and both PUT with If-Match: exactly one wins, the other learns what happened', async () => {
    await create('/documents/race', { title: 'v1' });
    const [a, b] = await Promise.all([server.request('/documents/race'), server.request('/documents/race')]);
    const etag = a.headers.get('etag')!;
    expect(b.headers.get('etag')).toBe(etag);

    const alice = await server.request(
      '/documents/race',
      json({ title: 'alice' }, { 'if-match': etag, 'truce-actor': 'alice' }),
    );
    const bob = await server.request(
      '/documents/race',
      json({ title: 'bob' }, { 'if-match': etag, 'truce-actor': 'bob' }),
    );
    expect(alice.status).toBe(200);
    expect(bob.status).toBe(412);
    expect(bob.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(bob.headers.get('link')).toBe('</documents/race>; rel="latest-version"');
    const problem = (await bob.json()) as Record<string, unknown>;
    const winnerEtag = alice.headers.get('etag');
    expect(problem).toMatchObject({
      type: '/_problems/stale-write',
      status: 412,
      code: 'stale-write',
      // The identical request can never succeed: it must be rebuilt on the current version.
      retryable: false,
      resolution: 'refetch-merge-retry',
      currentEtag: winnerEtag,
      changedBy: 'alice',
      yourEtag: etag,
      instance: '/documents/race',
    });
    expect(problem['current']).toMatchObject({
      id: 'race',
      title: 'alice',
      _version: 2,
      _updatedBy: 'alice',
    });
    expect(Date.parse(problem['changedAt'] as string)).not.toBeNaN();
    expect(problem['changes']).toEqual(
      expect.arrayContaining([{ op: 'replace', path: '/title', value: 'alice' }]),
    );
    expect(typeof problem['title']).toBe('string');
    expect(problem['detail']).toContain('alice');
    // Nothing of bob's reached the store.
    const now = (await (await server.request('/documents/race')).json()) as Record<string, unknown>;
    expect(now['title']).toBe('alice');
  });

  it('50 concurrent conditional writers: successes equal versions added, no update lost', async () => {
    await create('/documents/hot', { n: 0 });
    const writers = 50;
    let successes = 0;
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: writers }, async (_, i) => {
        // Each writer keeps trying until its increment lands: read, add one, write with If-Match.
        for (;;) {
          const read = await server.request('/documents/hot');
          const doc = (await read.json()) as { n: number };
          const res = await server.request(
            '/documents/hot',
            json({ n: doc.n + 1 }, { 'if-match': read.headers.get('etag')!, 'truce-actor': `w${i}` }),
          );
          if (res.status === 200) {
            successes++;
            return;
          }
          expect(res.status).toBe(412);
          conflicts++;
        }
      }),
    );
    const final = (await (await server.request('/documents/hot')).json()) as { n: number; _version: number };
    expect(successes).toBe(writers);
    expect(final.n).toBe(writers);
    expect(final._version).toBe(1 + writers);
    const history = (await (await server.request('/documents/hot/_versions?limit=1000')).json()) as {
      items: { version: number }[];
    };
    expect(history.items).toHaveLength(1 + writers);
    expect(new Set(history.items.map((v) => v.version)).size).toBe(1 + writers);
    // With 50 writers racing on two cores, some must have collided; otherwise the test proves nothing.
    expect(conflicts).toBeGreaterThan(0);
  });

  it('50 concurrent blind PATCH writers each land exactly once', async () => {
    await create('/documents/blind', { title: 'x' });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        server.request('/documents/blind', {
          method: 'PATCH',
          headers: { 'content-type': 'application/merge-patch+json' },
          body: JSON.stringify({ [`f${i}`]: i }),
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const final = (await (await server.request('/documents/blind')).json()) as Record<string, unknown>;
    expect(final['_version']).toBe(51);
    for (let i = 0; i < 50; i++) expect(final[`f${i}`]).toBe(i);
  });

  it('delete then re-create: the old ETag matches nothing and versions keep increasing', async () => {
    const first = await create('/documents/phoenix', { title: 'one' });
    const del = await server.request('/documents/phoenix', {
      method: 'DELETE',
      headers: { 'if-match': first.etag },
    });
    expect(del.status).toBe(204);
    expect((await server.request('/documents/phoenix')).status).toBe(404);
    const again = await create('/documents/phoenix', { title: 'one' });
    expect(again.etag).not.toBe(first.etag);
    expect(again.body['_version']).toBe(3);
    const stale = await server.request(
      '/documents/phoenix',
      json({ title: 'two' }, { 'if-match': first.etag }),
    );
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { code: string }).code).toBe('stale-write');
    const del2 = await server.request('/documents/phoenix', {
      method: 'DELETE',
      headers: { 'if-match': first.etag },
    });
    expect(del2.status).toBe(412);
  });

  it('a write to a deleted resource with its old ETag says who deleted it and when', async () => {
    const first = await create('/documents/gone', { title: 'x' });
    await server.request('/documents/gone', { method: 'DELETE', headers: { 'truce-actor': 'carol' } });
    const res = await server.request('/documents/gone', json({ title: 'y' }, { 'if-match': first.etag }));
    expect(res.status).toBe(412);
    const p = (await res.json()) as Record<string, unknown>;
    expect(p).toMatchObject({ code: 'stale-write', currentEtag: null, current: null, changedBy: 'carol' });
    expect(p['detail']).toContain('deleted');
  });

  it('staleWriteStatus: 409 answers stale writes with 409 and the same body', async () => {
    const { etag } = await create('/lenient/a', { v: 1 });
    await server.request('/lenient/a', json({ v: 2 }, { 'if-match': etag }));
    const res = await server.request('/lenient/a', json({ v: 3 }, { 'if-match': etag }));
    expect(res.status).toBe(409);
    expect((await res.json()) as object).toMatchObject({ code: 'stale-write', status: 409 });
  });

  it('If-Unmodified-Since older than the last change is a stale write', async () => {
    await create('/documents/ius', { title: 'x' });
    const res = await server.request(
      '/documents/ius',
      json({ title: 'y' }, { 'if-unmodified-since': 'Sat, 01 Jan 2000 00:00:00 GMT' }),
    );
    expect(res.status).toBe(412);
    expect((await res.json()) as object).toMatchObject({ code: 'stale-write', yourEtag: null });
    const ok = await server.request(
      '/documents/ius',
      json({ title: 'y' }, { 'if-unmodified-since': new Date(Date.now() + 86_400_000).toUTCString() }),
    );
    expect(ok.status).toBe(200);
  });

  it('_version in the body out of date is 409 version-conflict', async () => {
    await create('/documents/vc', { title: 'a' });
    await server.request('/documents/vc', json({ title: 'b' }));
    const res = await server.request('/documents/vc', json({ title: 'c', _version: 1 }));
    expect(res.status).toBe(409);
    expect(res.headers.get('link')).toContain('rel="latest-version"');
    const p = (await res.json()) as Record<string, unknown>;
    expect(p).toMatchObject({ code: 'version-conflict', currentVersion: 2, yourVersion: 1 });
    expect(p['current']).toMatchObject({ title: 'b' });
    const patch = await server.request('/documents/vc', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ title: 'd', _version: 2 }),
    });
    expect(patch.status).toBe(200);
  });

  it('requirePreconditions: unconditional writes get 428 without the current ETag', async () => {
    const created = await server.request('/strict', json({ a: 1 }, {}, 'POST'));
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    for (const init of [
      json({ a: 2 }),
      { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: '{"a":3}' },
      { method: 'DELETE' },
    ]) {
      const res = await server.request(location, init);
      expect(res.status).toBe(428);
      const p = (await res.json()) as Record<string, unknown>;
      expect(p['code']).toBe('precondition-required');
      expect(p).not.toHaveProperty('currentEtag');
    }
    const increment = await server.request(
      `${location}/_increment`,
      json({ pointer: '/a', by: 1 }, {}, 'POST'),
    );
    expect(increment.status).toBe(428);
    const ok = await server.request(location, json({ a: 2 }, { 'if-match': created.headers.get('etag')! }));
    expect(ok.status).toBe(200);
  });

  it('requirePreconditions: a missing resource is 404 before it is 428, for every kind of write', async () => {
    for (const [path, init] of [
      [
        '/strict/none',
        { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: '{}' },
      ],
      ['/strict/none', { method: 'DELETE' }],
      ['/strict/none/_increment', json({ pointer: '/a', by: 1 }, {}, 'POST')],
    ] as const) {
      const res = await server.request(path, init);
      expect(res.status, `${init.method} ${path}`).toBe(404);
    }
  });

  it('PUT with If-None-Match: * only creates', async () => {
    const first = await server.request('/documents/once', json({ title: 'a' }, { 'if-none-match': '*' }));
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toBe('/documents/once');
    const second = await server.request('/documents/once', json({ title: 'b' }, { 'if-none-match': '*' }));
    expect(second.status).toBe(412);
    expect((await second.json()) as object).toMatchObject({
      code: 'already-exists',
      existing: '/documents/once',
    });
  });

  it('POST with an id that exists is 409 already-exists', async () => {
    await create('/documents/dup', { title: 'a' });
    const res = await server.request('/documents', json({ id: 'dup', title: 'b' }, {}, 'POST'));
    expect(res.status).toBe(409);
    expect((await res.json()) as object).toMatchObject({
      code: 'already-exists',
      existing: '/documents/dup',
    });
  });

  it('JSON Patch test failure is 409 test-failed and writes nothing', async () => {
    await create('/documents/jp', { title: 'a' });
    const res = await server.request('/documents/jp', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([
        { op: 'replace', path: '/title', value: 'changed' },
        { op: 'test', path: '/title', value: 'nope' },
      ]),
    });
    expect(res.status).toBe(409);
    expect((await res.json()) as object).toMatchObject({
      code: 'test-failed',
      pointer: '/title',
      expected: 'nope',
      actual: 'changed',
    });
    const doc = (await (await server.request('/documents/jp')).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ title: 'a', _version: 1 });
  });

  it('JSON Patch can test _version as an optimistic check', async () => {
    await create('/documents/jpv', { title: 'a' });
    const patch = (v: number) =>
      server.request('/documents/jpv', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json' },
        body: JSON.stringify([
          { op: 'test', path: '/_version', value: v },
          { op: 'add', path: '/tags', value: ['x'] },
        ]),
      });
    expect((await patch(1)).status).toBe(200);
    expect((await patch(1)).status).toBe(409);
  });
});
