import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isProblem, TruceProblemError } from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';

/**
 * The SDK's plain operations against the real server with the shop example: every call of SPEC 4's
 * surface, ETag tracking, and problems typed by code.
 */
let shop: TestServer;
beforeAll(async () => {
  shop = await startTestServer(readFileSync(new URL('../examples/shop/truce.yaml', import.meta.url), 'utf8'));
});
afterAll(async () => shop.close());

/** A client whose requests are recorded: method, path, request headers, status, response headers. */
function client(actor = 'alice') {
  const log: { method: string; url: string; sent: Headers; status: number; got: Headers }[] = [];
  const api = createClient({
    baseUrl: shop.url,
    headers: { 'truce-actor': actor },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      const sent = new Headers(init.headers);
      log.push({ method: init.method ?? 'GET', url, sent, status: response.status, got: response.headers });
      return response;
    },
  });
  return Object.assign(api, { log });
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

describe('reads and writes', () => {
  it('creates, reads conditionally, replaces and patches with the ETag it last saw', async () => {
    const api = client();
    const created = await api.create('products', { id: 'lamp', sku: 'L-1', name: 'Lamp', stock: 3 });
    expect(created.data).toMatchObject({ id: 'lamp', sku: 'L-1', _version: 1, _updatedBy: 'alice' });
    expect(created.etag).toMatch(/^"/);
    expect(api.etagOf('products', 'lamp')).toBe(created.etag);
    expect(api.log[0]!.sent.get('idempotency-key')).toMatch(/^[0-9a-f]{32}$/);

    // Seen before: read with If-None-Match, answered 304 from memory.
    const read = await api.get('products', 'lamp');
    expect(read).toEqual(created);
    expect(api.log[1]).toMatchObject({ status: 304 });
    expect(api.log[1]!.sent.get('if-none-match')).toBe(created.etag);

    const replaced = await api.replace('products', 'lamp', { sku: 'L-1', name: 'Desk lamp', stock: 3 });
    expect(api.log[2]!.sent.get('if-match')).toBe(created.etag);
    expect(replaced.data._version).toBe(2);
    const patched = await api.patch('products', 'lamp', { price: 12 });
    expect(api.log[3]!.sent.get('if-match')).toBe(replaced.etag);
    expect(api.log[3]!.sent.get('content-type')).toBe('application/merge-patch+json');
    expect(patched.data).toMatchObject({ name: 'Desk lamp', price: 12, _version: 3 });
    const jsonPatched = await api.patch('products', 'lamp', [{ op: 'replace', path: '/price', value: 13 }]);
    expect(api.log[4]!.sent.get('content-type')).toBe('application/json-patch+json');
    expect(jsonPatched.data.price).toBe(13);

    // Another client wrote in between: this one's If-Match is stale, and the refusal is typed.
    await client('bob').patch('products', 'lamp', { price: 14 }, { ifMatch: false });
    const error = await failure(api.replace('products', 'lamp', { sku: 'L-1', name: 'Lamp' }));
    expect(isProblem(error, 'stale-write')).toBe(true);
    if (!isProblem(error, 'stale-write')) return;
    expect(error).toBeInstanceOf(TruceProblemError);
    expect(error.status).toBe(412);
    expect(error.problem.changedBy).toBe('bob');
    expect(error.problem.current).toMatchObject({ price: 14 });
    expect(error.response.headers.get('link')).toContain('latest-version');
    // The refusal taught the client the current version: the next write is based on it.
    expect(api.etagOf('products', 'lamp')).toBe(error.problem.currentEtag);
    const retried = await api.patch('products', 'lamp', { price: 15 });
    expect(retried.data).toMatchObject({ price: 15, _version: 6 });
  });

  it('deletes with If-Match, then reads not-found', async () => {
    const api = client();
    await api.create('products', { id: 'gone', sku: 'G-1', name: 'Gone' });
    await api.delete('products', 'gone');
    expect(api.log.at(-1)!.sent.get('if-match')).toMatch(/^"1-/);
    expect(api.etagOf('products', 'gone')).toBeUndefined();
    const error = await failure(api.get('products', 'gone'));
    expect(isProblem(error, 'not-found')).toBe(true);
    expect(isProblem(error, ['stale-write', 'not-found'])).toBe(true);
    expect(isProblem(error, 'stale-write')).toBe(false);
  });

  it('creates only when absent with ifNoneMatch, and names the holder of a taken id or value', async () => {
    const api = client();
    await api.replace('products', 'only', { sku: 'O-1', name: 'Only' }, { ifNoneMatch: '*' });
    const again = await failure(
      api.replace('products', 'only', { sku: 'O-1', name: 'Only' }, { ifNoneMatch: '*' }),
    );
    expect(isProblem(again, 'already-exists') && again.problem.existing).toBe('/products/only');
    const taken = await failure(api.create('products', { sku: 'O-1', name: 'Other' }));
    expect(isProblem(taken, 'unique-violation')).toBe(true);
    if (isProblem(taken, 'unique-violation')) {
      expect(taken.problem.fields).toEqual(['sku']);
      expect(taken.problem.existing).toBe('/products/only');
    }
  });

  it('lists one page with filters, and every page', async () => {
    const api = client();
    for (let i = 0; i < 5; i++)
      await api.create('folders', { id: `f-${i}`, name: i % 2 === 0 ? 'even' : 'odd' });
    const page = await api.list('folders', { filter: { name: 'even' }, limit: 2 });
    expect(page.items.map((f) => f.id)).toEqual(['f-0', 'f-2']);
    expect(page.next).not.toBeNull();
    const rest = await api.list('folders', { filter: { name: 'even' }, limit: 2, cursor: page.next! });
    expect(rest.items.map((f) => f.id)).toEqual(['f-4']);
    const all: string[] = [];
    for await (const folder of api.listAll('folders', { limit: 2 })) all.push(folder.id);
    expect(all).toEqual(['f-0', 'f-1', 'f-2', 'f-3', 'f-4']);
  });

  it('needs a read before writing where preconditions are required', async () => {
    const api = client();
    await api.create('users', { id: 'ann', email: 'ann@example.com', username: 'ann' });
    api.forget('users', 'ann');
    const refused = await failure(api.patch('users', 'ann', { name: 'Ann' }));
    expect(isProblem(refused, 'precondition-required')).toBe(true);
    await api.get('users', 'ann');
    expect((await api.patch('users', 'ann', { name: 'Ann' })).data).toMatchObject({
      name: 'Ann',
      _version: 2,
    });
  });
});

describe('transitions, increments, leases and batches', () => {
  it('runs transitions, with their refusals typed', async () => {
    const api = client();
    await api.create('users', { id: 'cy', email: 'cy@example.com', username: 'cy' });
    await api.create('orders', { id: 'o-1', customer: 'cy', items: [{ sku: 'L-1', quantity: 1 }] });
    const paid = await api.transition('orders', 'o-1', 'pay');
    expect(paid.data.status).toBe('paid');
    expect(api.etagOf('orders', 'o-1')).toBe(paid.etag);
    const guard = await failure(api.transition('orders', 'o-1', 'ship'));
    expect(isProblem(guard, 'transition-guard-failed') && guard.problem.errors[0]?.pointer).toBe('/address');
    const shipped = await api.transition('orders', 'o-1', 'ship', { address: '1 Main St' });
    expect(shipped.data).toMatchObject({ status: 'shipped', address: '1 Main St' });
    const again = await failure(api.transition('orders', 'o-1', 'pay'));
    expect(isProblem(again, 'invalid-transition')).toBe(true);
    if (isProblem(again, 'invalid-transition')) {
      expect(again.problem.currentState).toBe('shipped');
      expect(again.problem.allowedTransitions).toEqual(['deliver']);
    }
  });

  it('increments within bounds', async () => {
    const api = client();
    await api.create('products', { id: 'nut', sku: 'N-1', name: 'Nut', stock: 1 });
    expect((await api.increment('products', 'nut', '/stock', -1)).data.stock).toBe(0);
    const below = await failure(api.increment('products', 'nut', '/stock', -1));
    expect(isProblem(below, 'insufficient')).toBe(true);
    if (isProblem(below, 'insufficient'))
      expect(below.problem).toMatchObject({ current: 0, by: -1, minimum: 0 });
  });

  it('holds a lease: its writes carry the token, others are refused until it is released', async () => {
    const alice = client('alice');
    const bob = client('bob');
    await alice.create('documents', { id: 'leased', title: 'Plan' });
    const lease = await alice.lock('documents', 'leased', { ttl: 30, owner: 'alice' });
    expect(lease).toMatchObject({ fencing: 1, owner: 'alice' });
    const refused = await failure(bob.patch('documents', 'leased', { title: 'Mine' }, { ifMatch: false }));
    expect(isProblem(refused, 'locked')).toBe(true);
    if (isProblem(refused, 'locked')) expect(refused.problem.lockedBy).toBe('alice');
    await alice.patch('documents', 'leased', { title: 'Plan v2' });
    expect(alice.log.at(-1)!.sent.get('lock-token')).toBe(lease.token);
    const renewed = await alice.lock('documents', 'leased', { ttl: 60 });
    expect(renewed.token).toBe(lease.token);
    await alice.unlock('documents', 'leased');
    await bob.patch('documents', 'leased', { title: 'Mine' }, { ifMatch: false });
  });

  it('sends batches atomically, with the known ETags, and learns the new ones', async () => {
    const api = client();
    await api.create('products', { id: 'kit', sku: 'K-1', name: 'Kit', stock: 1 });
    const results = await api.batch([
      { method: 'POST', path: '/products/kit/_increment', body: { pointer: '/stock', by: -1 } },
      { method: 'PATCH', path: '/products/kit', body: { name: 'Kit (sold out)' } },
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(api.etagOf('products', 'kit')).toBe(results[1]!.headers['etag']);
    const failed = await failure(
      api.batch([
        { method: 'PATCH', path: '/products/kit', body: { name: 'Kit again' } },
        { method: 'POST', path: '/products/kit/_increment', body: { pointer: '/stock', by: -1 } },
      ]),
    );
    expect(isProblem(failed, 'insufficient')).toBe(true);
    expect(isProblem(failed) && failed.problem['operationIndex']).toBe(1);
    expect((await api.get('products', 'kit', { fresh: true })).data.name).toBe('Kit (sold out)');
    const loose = await api.batch(
      [
        { method: 'GET', path: '/products/kit' },
        { method: 'POST', path: '/products/kit/_increment', body: { pointer: '/stock', by: -1 } },
      ],
      { atomic: false },
    );
    expect(loose.map((r) => r.status)).toEqual([200, 409]);
  });
});
