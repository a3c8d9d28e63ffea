import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../config/load.js';
import { runGateway, type RunningGateway } from '../run.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(extra: Record<string, unknown> = {}) {
  const upstream: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        url: req.url,
        actor: req.headers['truce-actor'] ?? null,
        auth: req.headers['authorization'] ?? null,
      }),
    );
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => upstream.close(() => r())));
  const dir = mkdtempSync(join(tmpdir(), 'truce-gw-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = resolveGatewayConfig(
    {
      gateway: {
        listen: '127.0.0.1:0',
        admin: { listen: '127.0.0.1:0', key: ADMIN_KEY },
        storage: `sqlite:${join(dir, 'gateway.db')}`,
        upstreams: {
          shop: { targets: [`http://127.0.0.1:${(upstream.address() as { port: number }).port}`] },
        },
        routes: [
          {
            name: 'shop',
            match: { prefix: '/shop' },
            stripPrefix: true,
            upstream: 'shop',
            auth: 'key',
            subscription: 'approval',
          },
          { name: 'open', match: { prefix: '/open' }, stripPrefix: true, upstream: 'shop', auth: 'key' },
          { name: 'public', match: { prefix: '/public' }, upstream: 'shop' },
        ],
        ...extra,
      },
    },
    { env: {} },
  );
  const gw: RunningGateway = await runGateway(config);
  cleanups.push(() => gw.stop(500));
  const proxy = `http://127.0.0.1:${gw.proxyAddress.port}`;
  const admin = `http://127.0.0.1:${gw.adminAddress!.port}`;
  const call = async (method: string, path: string, body?: unknown, key = ADMIN_KEY) => {
    const res = await fetch(`${admin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read loosely
      body: text ? (JSON.parse(text) as Record<string, any>) : undefined,
    };
  };
  return { gw, proxy, admin, call, dir };
}

describe('admin API', () => {
  it('needs the admin key on every route but the problem pages', async () => {
    const { admin, call } = await setup();
    expect((await fetch(`${admin}/consumers`)).status).toBe(401);
    const wrong = await call('GET', '/consumers', undefined, 'admin-key-0123456789abcdeX');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 'unauthenticated' });
    expect((await fetch(`${admin}/_problems/subscription-required`)).status).toBe(200);
    const openapi = await call('GET', '/openapi.json');
    expect(openapi.body).toMatchObject({ openapi: '3.1.0' });
    expect(Object.keys(openapi.body!['paths'])).toEqual(
      expect.arrayContaining([
        '/consumers',
        '/consumers/{id}/keys',
        '/subscriptions/{id}/revoke',
        '/calls',
        '/calls/{id}',
        '/audit',
        '/metrics',
        '/routes',
        '/calls/stream',
        '/analytics/usage',
        '/ai/prompts',
        '/',
      ]),
    );
  });

  it('creates consumers with unique names and keys shown once, stored only as a hash', async () => {
    const { call, dir } = await setup();
    const alice = await call('POST', '/consumers', { name: 'alice' });
    expect(alice.status).toBe(201);
    expect(alice.body).toMatchObject({ name: 'alice' });
    expect((await call('POST', '/consumers', { name: 'alice' })).body).toMatchObject({
      status: 409,
      code: 'already-exists',
    });
    expect((await call('POST', '/consumers', '{"name": ')).body).toMatchObject({
      status: 400,
      code: 'malformed-request',
    });
    expect((await call('POST', '/consumers', { name: '' })).body).toMatchObject({
      status: 422,
      code: 'validation-failed',
      errors: [{ pointer: '/name' }],
    });
    const key = await call('POST', `/consumers/alice/keys`, undefined);
    expect(key.status).toBe(201);
    expect(key.body!['key']).toMatch(/^truce_[A-Za-z0-9_-]{43}$/);
    const listed = await call('GET', `/consumers/${alice.body!['id']}/keys`);
    expect(listed.body!['items']).toEqual([
      {
        id: key.body!['id'],
        prefix: key.body!['prefix'],
        createdAt: key.body!['createdAt'],
        lastUsedAt: null,
      },
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(key.body!['key']);
    // The database holds no key in clear.
    const db = new Database(join(dir, 'gateway.db'), { readonly: true });
    const dump = JSON.stringify(db.prepare('SELECT * FROM api_keys').all());
    db.close();
    expect(dump).not.toContain(key.body!['key']);
    expect((await call('GET', '/consumers/nobody')).status).toBe(404);
    expect((await call('DELETE', '/consumers/alice/keys/key_nope')).status).toBe(404);
  });

  it('approval: none, pending, approved, revoked, approved again; each change audited and effective on the very next request', async () => {
    const { proxy, call } = await setup();
    await call('POST', '/consumers', { name: 'bob' });
    const key = (await call('POST', '/consumers/bob/keys')).body!['key'] as string;
    const asBob = (path: string) =>
      fetch(`${proxy}${path}`, { headers: { authorization: `Bearer ${key}`, 'truce-actor': 'mallory' } });

    expect((await fetch(`${proxy}/shop/x`)).status).toBe(401);
    expect(
      (await fetch(`${proxy}/shop/x`, { headers: { 'x-api-key': 'truce_nope' } })).headers.get(
        'www-authenticate',
      ),
    ).toMatch(/^Bearer/);
    const none = await asBob('/shop/x');
    expect(none.status).toBe(403);
    expect(await none.json()).toMatchObject({
      code: 'subscription-required',
      subscription: 'none',
      route: 'shop',
    });

    const sub = await call('POST', '/subscriptions', { consumer: 'bob', route: 'shop' });
    expect(sub.status).toBe(201);
    expect(sub.body).toMatchObject({ consumer: 'bob', route: 'shop', status: 'pending' });
    expect(await (await asBob('/shop/x')).json()).toMatchObject({ subscription: 'pending' });

    expect((await call('POST', `/subscriptions/${sub.body!['id']}/revoke`)).body).toMatchObject({
      status: 409,
      code: 'invalid-transition',
      currentState: 'pending',
    });
    expect((await call('POST', `/subscriptions/${sub.body!['id']}/approve`)).body).toMatchObject({
      status: 'approved',
    });
    const ok = await asBob('/shop/orders/1');
    expect(ok.status).toBe(200);
    // The consumer's name is the actor upstream; the client's own Truce-Actor and key never pass.
    expect(await ok.json()).toEqual({ url: '/orders/1', actor: 'bob', auth: null });

    expect((await call('POST', `/subscriptions/${sub.body!['id']}/revoke`)).body).toMatchObject({
      status: 'revoked',
    });
    const revoked = await asBob('/shop/x');
    expect(revoked.status).toBe(403);
    expect(await revoked.json()).toMatchObject({ subscription: 'revoked' });
    expect((await call('POST', `/subscriptions/${sub.body!['id']}/approve`)).body).toMatchObject({
      status: 'approved',
    });
    expect((await asBob('/shop/x')).status).toBe(200);

    // Open routes: a valid key is enough. Deleting the consumer stops its keys at once.
    expect((await asBob('/open/x')).status).toBe(200);
    expect((await call('DELETE', '/consumers/bob')).status).toBe(204);
    expect((await asBob('/open/x')).status).toBe(401);

    const audit = await call('GET', '/audit');
    expect(audit.body!['items'].map((a: { action: string }) => a.action)).toEqual([
      'consumer.create',
      'key.create',
      'subscription.request',
      'subscription.approve',
      'subscription.revoke',
      'subscription.approve',
      'consumer.delete',
    ]);
  });

  it('logs every call with its fields, redacted, and finds them by resource in order', async () => {
    const { gw, proxy, call } = await setup({ log: { bodies: '16b', redact: { pointers: ['/password'] } } });
    await call('POST', '/consumers', { name: 'carol' });
    const key = (await call('POST', '/consumers/carol/keys')).body!['key'] as string;
    await call('POST', '/subscriptions', { consumer: 'carol', route: 'open' });
    const first = await fetch(`${proxy}/open/users/u1?x=1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'if-match': '"1-a"' },
      body: JSON.stringify({ password: 'hunter2', name: 'a fairly long name' }),
    });
    await first.text();
    await (
      await fetch(`${proxy}/open/users/u1/_versions`, { headers: { authorization: `Bearer ${key}` } })
    ).text();
    await (await fetch(`${proxy}/public/x`)).text();
    gw.calls.flush();
    const list = await call('GET', '/calls?resource=/users/u1&order=asc');
    expect(list.body!['items'].map((c: { method: string; path: string }) => `${c.method} ${c.path}`)).toEqual(
      ['PUT /open/users/u1', 'GET /open/users/u1/_versions'],
    );
    const [put] = list.body!['items'];
    expect(put).toMatchObject({
      route: 'open',
      consumer: 'carol',
      query: 'x=1',
      status: 200,
      conditional: true,
      code: null,
    });
    expect(put).not.toHaveProperty('requestHeaders');
    const full = await call('GET', `/calls/${put.id}`);
    expect(full.body!['requestHeaders']['authorization']).toBe('[redacted]');
    expect(full.body!['requestBody']).toBe('{"password":"[re');
    expect(full.body).toMatchObject({
      requestBodyTruncated: true,
      requestBodyEncoding: 'utf8',
      responseBodyTruncated: true,
    });
    expect((await call('GET', '/calls?status=4xx')).body!['items']).toEqual([]);
    expect((await call('GET', '/calls?status=2xx&limit=1')).body!['next']).toEqual(expect.any(String));
    expect((await call('GET', '/calls?status=abc')).status).toBe(400);
    expect((await call('GET', '/calls/nope')).status).toBe(404);
  });
});

describe('metrics', () => {
  it('counts calls by route, method, status class, code and target, and never by resource or consumer', async () => {
    const { proxy, call, admin } = await setup({
      routes: [
        {
          name: 'public',
          match: { prefix: '/public' },
          upstream: 'shop',
          rateLimit: { limit: 1, window: '1m', by: 'ip' },
        },
      ],
    });
    await (await fetch(`${proxy}/public/orders/secret-order-id`)).text();
    await (await fetch(`${proxy}/public/orders/secret-order-id`)).text();
    await (await fetch(`${proxy}/nowhere`)).text();
    expect((await fetch(`${admin}/metrics`)).status).toBe(401);
    const res = await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text).toMatch(
      /truce_gateway_requests_total\{route="public",method="GET",status="2xx",code="",target="http:\/\/127\.0\.0\.1:\d+"\} 1/,
    );
    expect(text).toMatch(
      /truce_gateway_requests_total\{route="public",method="GET",status="4xx",code="rate-limited",target="none"\} 1/,
    );
    expect(text).toContain(
      'truce_gateway_requests_total{route="none",method="GET",status="4xx",code="no-route",target="none"} 1',
    );
    expect(text).toContain('truce_gateway_rate_limit_decisions_total{route="public",decision="limited"} 1');
    expect(text).toMatch(
      /truce_gateway_upstream_target_healthy\{upstream="shop",target="http:\/\/127\.0\.0\.1:\d+"\} 1/,
    );
    expect(text).toContain('truce_gateway_call_log_dropped 0');
    expect(text).not.toContain('secret-order-id');
    void call;
  });
});
