import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText } from '../config/load.js';
import type { TruceConfig } from '../config/types.js';
import { createServer } from '../server.js';
import type { Store } from '../store/types.js';
import { json, openTestStore } from '../testing/harness.js';

/*
 * Leases (SPEC 3.9) through real HTTP, against the shop example (SPEC 8, scenario 4). Time is a
 * fake clock the tests move: no test waits for a lease to expire.
 */

const START = Date.parse('2030-01-01T00:00:00.000Z');
let now = START;
const advance = (ms: number) => (now += ms);
const iso = (ms: number) => new Date(ms).toISOString();

interface Running {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly store: Store;
}

async function start(config: TruceConfig): Promise<Running> {
  const store = await openTestStore();
  const app = await createServer(config, { store, logger: false, clock: () => now });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, app, store };
}

async function stop(server: Running): Promise<void> {
  await server.app.close();
  await server.store.close();
}

let shop: Running;
let other: Running;
beforeAll(async () => {
  const file = fileURLToPath(new URL('../../../../examples/shop/truce.yaml', import.meta.url));
  shop = await start(loadConfigFile(file, { storage: 'sqlite::memory:' }));
  other = await start(parseConfigText('collections: { notes: { lockedStatus: 409 }, plain: {} }'));
});
afterAll(async () => {
  await stop(shop);
  await stop(other);
});

type Body = Record<string, unknown>;
async function send(
  path: string,
  init: RequestInit = {},
  server: Running = shop,
): Promise<{ status: number; headers: Headers; body: Body }> {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Body) : {} };
}

const as = (actor: string, extra: Record<string, string> = {}) => ({ 'truce-actor': actor, ...extra });
const post = (body: unknown, headers: Record<string, string> = {}) => json(body, headers, 'POST');

/** Takes a lease, expecting 201; returns its body. */
async function lease(path: string, body: Body, headers: Record<string, string> = {}, server = shop) {
  const res = await send(`${path}/_lock`, post(body, headers), server);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { token: string; fencing: number; owner: string | null; expiresAt: string };
}

/** Expects the `locked` problem for a write to `path` while `owner` holds it until `until`. */
function expectLocked(
  res: { status: number; headers: Headers; body: Body },
  path: string,
  owner: string | null,
  until: number,
  status = 423,
) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    code: 'locked',
    status,
    lockedBy: owner,
    expiresAt: iso(until),
    retryable: true,
    resolution: 'wait-and-retry',
  });
  expect(res.headers.get('retry-after')).toBe(String(Math.max(1, Math.ceil((until - now) / 1000))));
  expect(res.headers.get('link')).toBe(`<${path}>; rel="latest-version"`);
}

describe('SPEC 8 scenario 4: a leased resource refuses other writers', () => {
  it('says who holds it until when; the holder writes with its token, then releases it', async () => {
    const created = await send('/documents', post({ title: 'Plan', body: 'a\n' }, as('alice')));
    expect(created.status).toBe(201);
    const path = `/documents/${created.body['id'] as string}`;

    const taken = await send(`${path}/_lock`, post({ ttl: 30, owner: 'bob' }, as('bob')));
    expect(taken.status).toBe(201);
    expect(taken.body).toStrictEqual({
      token: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/),
      fencing: 1,
      owner: 'bob',
      expiresAt: iso(now + 30_000),
    });
    const token = taken.body['token'] as string;
    expect(taken.headers.get('lock-token')).toBe(token);
    expect(taken.headers.get('location')).toBe(`${path}/_lock`);
    const until = now + 30_000;

    // Others are refused, with who holds it until when, whatever kind of write they try.
    advance(10_000);
    const attempts: RequestInit[] = [
      json({ title: 'Mine' }, as('alice')),
      json({ title: 'Mine' }, as('alice', { 'content-type': 'application/merge-patch+json' }), 'PATCH'),
      json(
        [{ op: 'replace', path: '/title', value: 'Mine' }],
        as('alice', { 'content-type': 'application/json-patch+json' }),
        'PATCH',
      ),
      { method: 'DELETE', headers: as('alice') },
      json({ title: 'Mine' }, as('alice', { 'lock-token': 'not-the-token' })),
    ];
    for (const init of attempts) {
      const refused = await send(path, init);
      expectLocked(refused, path, 'bob', until);
      expect(refused.body['detail']).toContain('bob');
      expect(refused.headers.get('retry-after')).toBe('20');
    }
    // Taking the lease over is refused the same way.
    expectLocked(await send(`${path}/_lock`, post({ owner: 'alice' })), path, 'bob', until);
    // Nothing changed.
    expect((await send(path)).body).toMatchObject({ title: 'Plan', _version: 1 });

    // The holder writes with its token (also in the RFC 4918 form <token>).
    const mine = await send(path, json({ title: 'Plan B', body: 'b\n' }, as('bob', { 'lock-token': token })));
    expect(mine.status).toBe(200);
    const patched = await send(path, {
      method: 'PATCH',
      headers: as('bob', { 'lock-token': `<${token}>`, 'content-type': 'application/merge-patch+json' }),
      body: JSON.stringify({ tags: ['x'] }),
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'Plan B', tags: ['x'], _version: 3, _updatedBy: 'bob' });

    // Released: anyone may write again.
    const released = await send(`${path}/_lock`, { method: 'DELETE', headers: { 'lock-token': token } });
    expect(released.status).toBe(204);
    expect((await send(path, json({ title: 'Mine' }, as('alice')))).status).toBe(200);
  });

  it('answers 409 instead of 423 in a collection with lockedStatus: 409', async () => {
    expect((await send('/notes/n1', json({ text: 'hi' }), other)).status).toBe(201);
    const l = await lease('/notes/n1', { owner: 'bob', ttl: 5 }, {}, other);
    expectLocked(
      await send('/notes/n1', json({ text: 'x' }), other),
      '/notes/n1',
      'bob',
      Date.parse(l.expiresAt),
      409,
    );
    // Elsewhere the default applies.
    expect((await send('/plain/p1', json({ text: 'hi' }), other)).status).toBe(201);
    const p = await lease('/plain/p1', { owner: 'bob', ttl: 5 }, {}, other);
    expectLocked(
      await send('/plain/p1', json({ text: 'x' }), other),
      '/plain/p1',
      'bob',
      Date.parse(p.expiresAt),
      423,
    );
  });
});

describe('POST and DELETE /{c}/{id}/_lock', () => {
  it('renews with the current Lock-Token: same token and fencing, a new expiry', async () => {
    await send('/documents/renew', json({ title: 'r' }));
    const first = await lease('/documents/renew', { ttl: 30, owner: 'bob' });
    advance(20_000);
    const renewed = await send('/documents/renew/_lock', post({ ttl: 60 }, { 'lock-token': first.token }));
    expect(renewed.status).toBe(200);
    expect(renewed.body).toStrictEqual({ ...first, expiresAt: iso(now + 60_000) });
    expect(renewed.headers.get('location')).toBeNull();
    // Without a body, a renewal keeps the lease's own ttl.
    advance(30_000);
    const again = await send('/documents/renew/_lock', {
      method: 'POST',
      headers: { 'lock-token': first.token },
    });
    expect(again.status).toBe(200);
    expect(again.body).toStrictEqual({ ...first, expiresAt: iso(now + 60_000) });
    // Renewing with another token is a mismatch, and changes nothing.
    const wrong = await send('/documents/renew/_lock', post({ ttl: 60 }, { 'lock-token': 'nope' }));
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ code: 'lock-token-mismatch', status: 409 });
    expect(wrong.headers.get('link')).toBe('</documents/renew>; rel="latest-version"');
    expectLocked(
      await send('/documents/renew', json({ title: 'x' })),
      '/documents/renew',
      'bob',
      now + 60_000,
    );
  });

  it('lets a lease expire by the clock: others write, the old token no longer works', async () => {
    await send('/documents/expiry', json({ title: 'e' }));
    const l = await lease('/documents/expiry', { ttl: 10, owner: 'bob' });
    advance(9_999);
    expectLocked(await send('/documents/expiry', json({ title: 'x' })), '/documents/expiry', 'bob', now + 1);
    advance(1);
    expect((await send('/documents/expiry', json({ title: 'alice' }, as('alice')))).status).toBe(200);
    for (const init of [
      post({}, { 'lock-token': l.token }),
      { method: 'DELETE', headers: { 'lock-token': l.token } },
    ]) {
      const late = await send('/documents/expiry/_lock', init);
      expect(late.status).toBe(409);
      expect(late.body['code']).toBe('lock-token-mismatch');
    }
    // The next lease gets the next fencing number.
    expect((await lease('/documents/expiry', { owner: 'carol' })).fencing).toBe(2);
  });

  it('numbers leases with a fencing token that only increases', async () => {
    await send('/documents/fence', json({ title: 'f' }));
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      const l = await lease('/documents/fence', { ttl: 5, owner: `w${i}` });
      seen.push(l.fencing);
      if (i % 2 === 0) {
        expect(
          (await send('/documents/fence/_lock', { method: 'DELETE', headers: { 'lock-token': l.token } }))
            .status,
        ).toBe(204);
      } else advance(5_000);
    }
    expect(seen).toStrictEqual([1, 2, 3, 4, 5]);
  });

  it('release needs the token: missing or wrong is 409 lock-token-mismatch; a second release too', async () => {
    await send('/documents/rel', json({ title: 'x' }));
    const l = await lease('/documents/rel', { owner: 'bob' });
    for (const headers of [{}, { 'lock-token': 'wrong' }]) {
      const res = await send('/documents/rel/_lock', { method: 'DELETE', headers });
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'lock-token-mismatch', resolution: 'none' });
    }
    const del = { method: 'DELETE', headers: { 'lock-token': l.token } };
    expect((await send('/documents/rel/_lock', del)).status).toBe(204);
    expect((await send('/documents/rel/_lock', del)).status).toBe(409);
  });

  it('a lease needs an existing resource: 404 otherwise', async () => {
    for (const path of ['/documents/nobody/_lock', '/nothing/x/_lock']) {
      const res = await send(path, post({ owner: 'bob' }));
      expect(res.status).toBe(404);
      expect(res.body['code']).toBe('not-found');
    }
    expect(
      (await send('/documents/nobody/_lock', { method: 'DELETE', headers: { 'lock-token': 'x' } })).status,
    ).toBe(404);
    expect((await send('/documents/nobody/_lock', { method: 'DELETE' })).status).toBe(404);
    await send('/documents/gone', json({ title: 'g' }));
    await send('/documents/gone', { method: 'DELETE' });
    expect((await send('/documents/gone/_lock', post({}))).status).toBe(404);
  });

  it('owner defaults to the actor, ttl to 60 seconds', async () => {
    await send('/documents/defaults', json({ title: 'd' }));
    const res = await send('/documents/defaults/_lock', { method: 'POST', headers: as('carol') });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ owner: 'carol', expiresAt: iso(now + 60_000) });
    // Without either, the lease has no owner, and says so.
    await send('/documents/anonymous', json({ title: 'a' }));
    const anon = await send('/documents/anonymous/_lock', { method: 'POST' });
    expect(anon.body).toMatchObject({ owner: null });
    expectLocked(
      await send('/documents/anonymous', json({ title: 'x' })),
      '/documents/anonymous',
      null,
      now + 60_000,
    );
  });

  it('refuses malformed lease requests with every error and its pointer', async () => {
    await send('/documents/bad', json({ title: 'b' }));
    const bad = await send('/documents/bad/_lock', post({ ttl: 0, owner: '', color: 'red', 'a/b': 1 }));
    expect(bad.status).toBe(400);
    expect(bad.body['code']).toBe('malformed-request');
    expect((bad.body['errors'] as { pointer: string }[]).map((e) => e.pointer)).toStrictEqual([
      '/ttl',
      '/owner',
      '/color',
      '/a~1b',
    ]);
    for (const body of [
      { ttl: 3601 },
      { ttl: 1.5 },
      { ttl: '10' },
      { owner: 5 },
      { owner: 'x'.repeat(201) },
    ]) {
      expect((await send('/documents/bad/_lock', post(body))).status, JSON.stringify(body)).toBe(400);
    }
    for (const body of [{ ttl: 1 }, { ttl: 3600, owner: 'x'.repeat(200) }]) {
      const ok = await send('/documents/bad/_lock', post(body));
      expect(ok.status).toBe(201);
      await send('/documents/bad/_lock', {
        method: 'DELETE',
        headers: { 'lock-token': ok.body['token'] as string },
      });
    }
    const array = await send('/documents/bad/_lock', post([1]));
    expect(array.status).toBe(400);
    const text = await send('/documents/bad/_lock', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(text.status).toBe(415);
    // A Lock-Token that cannot be a token (two joined with a comma) is malformed, on writes too.
    const joined = { 'lock-token': 'a, b' };
    for (const [path, init] of [
      ['/documents/bad/_lock', { method: 'DELETE', headers: joined }],
      ['/documents/bad', json({ title: 'x' }, joined)],
    ] as const) {
      const res = await send(path, init);
      expect(res.status).toBe(400);
      expect(res.body['errors']).toStrictEqual([{ header: 'Lock-Token', message: expect.any(String) }]);
    }
    // Only POST and DELETE.
    const get = await send('/documents/bad/_lock');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST, DELETE, OPTIONS');
  });
});

describe('configuration and OpenAPI', () => {
  it('accepts lockedStatus 423 or 409 only, 423 by default', () => {
    expect(() => parseConfigText('collections: { a: { lockedStatus: 418 } }')).toThrow(
      expect.objectContaining({
        issues: [expect.objectContaining({ pointer: '/collections/a/lockedStatus' })],
      }),
    );
    const config = parseConfigText(
      'collections: { a: {}, b: { lockedStatus: 409 }, c: { lockedStatus: 423 } }',
    );
    expect(['a', 'b', 'c'].map((c) => config.collections.get(c)?.lockedStatus)).toStrictEqual([
      423, 409, 423,
    ]);
  });

  it('describes the _lock route, the Lock-Token header and the locked answers', async () => {
    const doc = (await send('/_openapi.json')).body as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
      components: { parameters: Record<string, { name: string }> };
    };
    const lock = doc.paths['/documents/{id}/_lock']!;
    expect(Object.keys(lock['post']!.responses!).sort()).toStrictEqual([
      '200',
      '201',
      '400',
      '404',
      '409',
      '423',
    ]);
    expect(Object.keys(lock['delete']!.responses!).sort()).toStrictEqual(['204', '404', '409']);
    expect(doc.paths['/documents/{id}']!['put']!.responses!['423']).toBeDefined();
    expect(doc.components.parameters['LockToken']?.name).toBe('Lock-Token');
    // Parameters: _lock takes a key and an actor; Truce-Base only where the server merges.
    const refs = (params: unknown) => JSON.stringify(params);
    const locks = doc.paths['/documents/{id}/_lock'] as unknown as { parameters: unknown };
    expect(refs(locks.parameters)).toContain('IdempotencyKey');
    const item = doc.paths['/documents/{id}'] as unknown as Record<string, { parameters?: unknown }>;
    expect(refs(item['put']!.parameters)).toContain('TruceBase');
    expect(refs(item['patch']!.parameters)).toContain('TruceBase');
    expect(refs(item['delete']!.parameters)).not.toContain('TruceBase');
    for (const path of ['/products/{id}/_increment', '/orders/{id}/_transitions/{name}']) {
      const route = doc.paths[path] as unknown as Record<string, { parameters?: unknown }>;
      expect(refs(route['post']!.parameters), path).toContain('IfMatch');
      expect(refs(route['post']!.parameters), path).not.toContain('TruceBase');
    }
    const notes = (await send('/_openapi.json', {}, other)).body as typeof doc;
    expect(notes.paths['/notes/{id}']!['put']!.responses!['423']).toBeUndefined();
    expect(JSON.stringify(notes.paths['/notes/{id}']!['put']!.responses!['409'])).toContain('locked');
  });
});

describe('every kind of write honours the lease', () => {
  it('transitions, increments and deletes need the token; a delete ends the lease', async () => {
    const user = await send('/users', post({ username: 'leaser', email: 'leaser@example.com' }));
    const order = await send(
      '/orders',
      post({ customer: user.body['id'], items: [{ sku: 'A', quantity: 1 }] }),
    );
    const orderPath = `/orders/${order.body['id'] as string}`;
    const o = await lease(orderPath, { owner: 'warehouse', ttl: 30 });
    expectLocked(
      await send(`${orderPath}/_transitions/pay`, { method: 'POST' }),
      orderPath,
      'warehouse',
      now + 30_000,
    );
    const paid = await send(`${orderPath}/_transitions/pay`, {
      method: 'POST',
      headers: { 'lock-token': o.token },
    });
    expect(paid.status).toBe(200);
    expect(paid.body['status']).toBe('paid');

    const product = await send('/products', post({ sku: 'LEASE-1', name: 'Leased', stock: 5 }));
    const productPath = `/products/${product.body['id'] as string}`;
    const p = await lease(productPath, { owner: 'stocktake', ttl: 30 });
    const by = (n: number, headers: Record<string, string> = {}) =>
      post({ pointer: '/stock', by: n }, headers);
    // Both ways an increment commits: added in the store, and compare-and-set under If-Match.
    expectLocked(await send(`${productPath}/_increment`, by(-1)), productPath, 'stocktake', now + 30_000);
    const etag = (await fetch(`${shop.url}${productPath}`)).headers.get('etag')!;
    expectLocked(
      await send(`${productPath}/_increment`, by(-1, { 'if-match': etag })),
      productPath,
      'stocktake',
      now + 30_000,
    );
    expect((await send(`${productPath}/_increment`, by(-1, { 'lock-token': p.token }))).body['stock']).toBe(
      4,
    );

    // The holder deletes; the lease ends with the resource, and its fencing number carries on.
    expectLocked(await send(productPath, { method: 'DELETE' }), productPath, 'stocktake', now + 30_000);
    expect((await send(productPath, { method: 'DELETE', headers: { 'lock-token': p.token } })).status).toBe(
      204,
    );
    expect((await send(productPath, json({ sku: 'LEASE-1', name: 'Back', stock: 1 }))).status).toBe(201);
    expect((await lease(productPath, { owner: 'next' })).fencing).toBe(2);
  });

  it('a batch operation on a leased resource fails with its operationIndex unless it carries the token', async () => {
    await send('/documents/b-free', json({ title: 'free' }));
    await send('/documents/b-held', json({ title: 'held' }));
    const l = await lease('/documents/b-held', { owner: 'bob', ttl: 30 });
    const ops = (headers: Record<string, string>) => [
      { method: 'PUT', path: '/documents/b-free', body: { title: 'changed' } },
      { method: 'PATCH', path: '/documents/b-held', headers, body: { title: 'changed' } },
    ];
    const refused = await send('/_batch', post({ operations: ops({}) }));
    expectLocked(refused, '/documents/b-held', 'bob', now + 30_000);
    expect(refused.body['operationIndex']).toBe(1);
    // All or nothing: the first operation did not apply either.
    expect((await send('/documents/b-free')).body['title']).toBe('free');

    // Not atomic: each operation on its own.
    const each = await send('/_batch', post({ atomic: false, operations: ops({}) }));
    expect(each.status).toBe(200);
    expect((each.body['results'] as { status: number }[]).map((r) => r.status)).toStrictEqual([200, 423]);

    const allowed = await send('/_batch', post({ operations: ops({ 'Lock-Token': l.token }) }));
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
    expect((await send('/documents/b-held')).body['title']).toBe('changed');

    // A lease takes effect at once, so it cannot be part of an atomic batch.
    const inBatch = await send(
      '/_batch',
      post({ operations: [{ method: 'POST', path: '/documents/b-free/_lock' }] }),
    );
    expect(inBatch.status).toBe(400);
    expect(inBatch.body['errors']).toStrictEqual([
      { pointer: '/operations/0/path', message: expect.any(String) },
    ]);
    const alone = await send(
      '/_batch',
      post({ atomic: false, operations: [{ method: 'POST', path: '/documents/b-free/_lock' }] }),
    );
    expect((alone.body['results'] as { status: number }[])[0]?.status).toBe(201);
  });

  it('Retry-After counts the whole seconds left, at least 1', async () => {
    await send('/documents/retry', json({ title: 'r' }));
    const l = await lease('/documents/retry', { owner: 'bob', ttl: 3 });
    const until = Date.parse(l.expiresAt);
    for (const [left, seconds] of [
      [3000, '3'],
      [1500, '2'],
      [200, '1'],
      [1, '1'],
    ] as const) {
      now = until - left;
      expect((await send('/documents/retry', json({ title: 'x' }))).headers.get('retry-after')).toBe(seconds);
    }
  });
});
