import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

/** Operation paths are checked as the router reads them (issue 10, item 1). */
const CONFIG = `
collections:
  folders: {}
  documents: {}
`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(CONFIG);
});
afterAll(async () => server.close());

type Body = Record<string, unknown> & { errors?: { pointer: string; message: string }[] };
async function batch(operations: unknown[], atomic?: boolean) {
  const res = await server.request(
    '/_batch',
    json({ ...(atomic === undefined ? {} : { atomic }), operations }, {}, 'POST'),
  );
  return { res, body: (await res.json()) as Body };
}

/** An operation that fails at its turn, after the ones before it ran. */
const failing = { method: 'PUT', path: '/folders/stale', headers: { 'if-match': '"nope"' }, body: {} };

describe('batch operation paths', () => {
  it('a nested batch spelled with dot segments or escapes is refused, and nothing it holds applies', async () => {
    const seq = await server.store.lastSeq();
    for (const path of [
      '/folders/../_batch',
      '/folders/%2e%2e/_batch',
      '/folders/%2E%2E/_batch',
      '/folders/./../_batch',
      '/%5Fbatch',
      '/folders/x/../../_batch',
    ]) {
      const nested = {
        method: 'POST',
        path,
        body: { atomic: false, operations: [{ method: 'PUT', path: '/folders/escaped', body: {} }] },
      };
      const { res, body } = await batch([nested, failing]);
      expect(res.status, path).toBe(400);
      expect(body.errors, path).toEqual([
        { pointer: '/operations/0/path', message: 'a batch cannot contain another batch (_batch)' },
      ]);
    }
    expect((await server.request('/folders/escaped')).status).toBe(404);
    expect(await server.store.lastSeq()).toBe(seq);
  });

  it('a lease spelled with escapes or dot segments is refused in an atomic batch: no lease is left', async () => {
    await server.request('/documents/d2', json({ title: 'plan' }));
    for (const path of ['/documents/d2/%5Flock', '/documents/d2/%5flock', '/documents/x/../d2/./_lock']) {
      const { res, body } = await batch([{ method: 'POST', path, body: { ttl: 600 } }, failing]);
      expect(res.status, path).toBe(400);
      expect(body.errors?.[0]?.pointer, path).toBe('/operations/0/path');
      expect(body.errors?.[0]?.message, path).toMatch(/_lock/);
    }
    // Without a lease, an unconditional write goes through (a lease would answer 423).
    expect((await server.request('/documents/d2', json({ title: 'free' }))).status).toBe(200);
    // Non-atomic batches may still take a lease, whose token they return.
    const { res, body } = await batch([{ method: 'POST', path: '/documents/d2/%5Flock' }], false);
    expect(res.status).toBe(200);
    const lease = (body['results'] as { status: number; headers: Record<string, string> }[])[0]!;
    expect(lease.status).toBe(201);
    const release = await server.request('/documents/d2/_lock', {
      method: 'DELETE',
      headers: { 'lock-token': lease.headers['lock-token']! },
    });
    expect(release.status).toBe(204);
  });

  it('no request holds more than 100 operations: nested batches cannot multiply them', async () => {
    const inner = Array.from({ length: 100 }, () => ({ method: 'GET', path: '/folders' }));
    const outer = Array.from({ length: 100 }, () => ({
      method: 'POST',
      path: '/folders/../_batch',
      body: { atomic: false, operations: inner },
    }));
    const { res, body } = await batch(outer, false);
    expect(res.status).toBe(400);
    expect(body.errors).toHaveLength(100);
  });

  it('paths run as the router reads them: escapes decoded, dot segments resolved', async () => {
    const { res, body } = await batch([
      { method: 'PUT', path: '/%66olders/a%2Db', body: { n: 1 } },
      { method: 'PUT', path: '/folders/x/../c', body: { n: 2 } },
      { method: 'GET', path: '/folders/./a-b' },
    ]);
    expect(res.status).toBe(200);
    const results = body['results'] as { status: number; body: Record<string, unknown> }[];
    expect(results.map((r) => r.status)).toEqual([201, 201, 200]);
    expect(results[2]!.body).toMatchObject({ id: 'a-b', n: 1 });
    expect(await (await server.request('/folders/c')).json()).toMatchObject({ id: 'c', n: 2 });
  });

  it('refuses paths the router would read differently, with every error and its pointer', async () => {
    const { res, body } = await batch([
      { method: 'GET', path: '/folders/a%2Fb' },
      { method: 'GET', path: '/folders/%zz' },
      { method: 'GET', path: '/folders\\..\\_batch' },
      { method: 'GET', path: '/folders/a#x' },
      { method: 'GET', path: '/folders/a b' },
      { method: 'GET', path: '/folders/../../documents/../_changes' },
    ]);
    expect(res.status).toBe(400);
    expect(body.errors?.map((e) => e.pointer)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `/operations/${i}/path`),
    );
  });
});
