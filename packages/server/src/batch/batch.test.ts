import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

const CONFIG = `
collections:
  users:
    unique: [ { fields: [email] } ]
  products:
    schema: { type: object, properties: { stock: { type: integer, minimum: 0 } } }
  orders:
    references: { customer: users }
`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(CONFIG);
});
afterAll(async () => server.close());

type Result = { status: number; headers: Record<string, string>; body: Record<string, unknown> };
async function batch(operations: unknown[], atomic?: boolean, headers: Record<string, string> = {}) {
  const res = await server.request(
    '/_batch',
    json({ ...(atomic === undefined ? {} : { atomic }), operations }, headers, 'POST'),
  );
  return { res, body: (await res.json()) as Record<string, unknown> & { results?: Result[] } };
}

/** The state a failed atomic batch must leave untouched. */
async function snapshot() {
  return { seq: await server.store.lastSeq(), products: await (await server.request('/products')).text() };
}

describe('POST /_batch', () => {
  it('applies every operation, later ones seeing the earlier ones, with real ETags', async () => {
    const { res, body } = await batch(
      [
        { method: 'PUT', path: '/users/ann', body: { email: 'ann@example.com' } },
        { method: 'POST', path: '/orders', body: { customer: 'ann' } },
        { method: 'GET', path: '/users/ann' },
        { method: 'PATCH', path: '/users/ann', body: { name: 'Ann' } },
      ],
      undefined,
      { 'truce-actor': 'batcher' },
    );
    expect(res.status).toBe(200);
    const results = body.results!;
    expect(results.map((r) => r.status)).toEqual([201, 201, 200, 200]);
    expect(results[2]!.body).toMatchObject({ email: 'ann@example.com', _version: 1 });
    expect(results[3]!.body).toMatchObject({ name: 'Ann', _version: 2, _updatedBy: 'batcher' });
    const now = await server.request('/users/ann');
    expect(now.headers.get('etag')).toBe(results[3]!.headers['etag']);
    expect(await now.json()).toEqual(results[3]!.body);
    const order = await server.request(results[1]!.headers['location']!);
    expect(order.status).toBe(200);
  });

  it('atomic: when the last operation fails, nothing is applied and its problem says where', async () => {
    await server.request('/products/p1', json({ stock: 5 }));
    const before = await snapshot();
    const { res, body } = await batch([
      { method: 'POST', path: '/products/p1/_increment', body: { pointer: '/stock', by: -1 } },
      { method: 'PUT', path: '/users/bob', body: { email: 'bob@example.com' } },
      { method: 'POST', path: '/orders', body: { customer: 'nobody' } },
    ]);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    expect(body).toMatchObject({ code: 'dangling-reference', operationIndex: 2, pointer: '/customer' });
    expect(await snapshot()).toEqual(before);
    expect((await server.request('/users/bob')).status).toBe(404);
  });

  it('atomic: a failure found by the handler (precondition, validation) also applies nothing', async () => {
    const put = await server.request('/products/p2', json({ stock: 1 }));
    const etag = put.headers.get('etag')!;
    await server.request('/products/p2', json({ stock: 2 }));
    const before = await snapshot();
    const { res, body } = await batch([
      { method: 'PUT', path: '/products/p3', body: { stock: 1 } },
      { method: 'PUT', path: '/products/p2', headers: { 'If-Match': etag }, body: { stock: 9 } },
    ]);
    expect(res.status).toBe(412);
    expect(body).toMatchObject({ code: 'stale-write', operationIndex: 1 });
    expect(await snapshot()).toEqual(before);
  });

  it('atomic: two operations taking one unique value fail at the second', async () => {
    const before = await snapshot();
    const { res, body } = await batch([
      { method: 'POST', path: '/users', body: { email: 'twice@example.com' } },
      { method: 'POST', path: '/users', body: { email: 'twice@example.com' } },
    ]);
    expect(res.status).toBe(409);
    expect(body).toMatchObject({ code: 'unique-violation', operationIndex: 1, fields: ['email'] });
    expect(await snapshot()).toEqual(before);
  });

  it('non-atomic: each operation applies on its own and every result comes back', async () => {
    const { res, body } = await batch(
      [
        { method: 'PUT', path: '/users/cat', body: { email: 'cat@example.com' } },
        { method: 'POST', path: '/orders', body: { customer: 'nobody' } },
        { method: 'PUT', path: '/users/dan', body: { email: 'dan@example.com' } },
      ],
      false,
    );
    expect(res.status).toBe(200);
    expect(body.results!.map((r) => r.status)).toEqual([201, 422, 201]);
    expect(body.results![1]!.body).toMatchObject({ code: 'dangling-reference' });
    expect((await server.request('/users/dan')).status).toBe(200);
  });

  it('reserve stock and create the order: concurrent batches never oversell', async () => {
    await server.request('/users/eve', json({ email: 'eve@example.com' }));
    await server.request('/products/last', json({ stock: 10 }));
    const attempts = await Promise.all(
      Array.from({ length: 25 }, () =>
        batch([
          { method: 'POST', path: '/products/last/_increment', body: { pointer: '/stock', by: -1 } },
          { method: 'POST', path: '/orders', body: { customer: 'eve', product: 'last' } },
        ]),
      ),
    );
    const ok = attempts.filter((a) => a.res.status === 200);
    const refused = attempts.filter((a) => a.res.status === 409);
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(15);
    for (const r of refused) expect(r.body).toMatchObject({ code: 'insufficient', operationIndex: 0 });
    expect(await (await server.request('/products/last')).json()).toMatchObject({ stock: 0 });
    const orders = (await (await server.request('/orders?product=last&limit=100')).json()) as {
      items: unknown[];
    };
    expect(orders.items).toHaveLength(10);
  });

  it('refuses malformed batches with every error and its pointer', async () => {
    const tooMany = Array.from({ length: 101 }, () => ({ method: 'GET', path: '/users' }));
    expect((await batch(tooMany)).res.status).toBe(400);
    const { res, body } = await batch([
      { method: 'FETCH', path: '/users' },
      { method: 'GET', path: '/_batch' },
      { method: 'GET', path: '/users/_changes' },
      { method: 'GET', path: 'users', extra: 1 },
      'nope',
    ]);
    expect(res.status).toBe(400);
    const pointers = (body['errors'] as { pointer: string }[]).map((e) => e.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining([
        '/operations/0/method',
        '/operations/1/path',
        '/operations/2/path',
        '/operations/3/path',
        '/operations/3/extra',
        '/operations/4',
      ]),
    );
    expect((await batch([])).res.status).toBe(400);
  });
});
