import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createServer, resolveConfig } from '@truce/server';
import { resolveGatewayConfig } from '../packages/gateway/src/config/load.js';
import { runGateway, type RunningGateway } from '../packages/gateway/src/run.js';
import { requireBuild, tempDir } from './helpers.js';

/*
 * Issue 12 through real sockets: a real Truce server behind a real gateway, two consumers writing one
 * resource, one of them with a stale If-Match; two clients hitting a rate limit, one retrying
 * before Retry-After and one waiting it out; the lost-update guard in front of the server; and
 * consumers of a deprecated and a retired route.
 */

const ADMIN_KEY = 'analytics-admin-key-0123456789';
let dir: ReturnType<typeof tempDir>;
let truce: FastifyInstance;
let gw: RunningGateway;
let proxy: string;
let admin: string;
const keys: Record<string, string> = {};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read loosely
async function adminCall(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${admin}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return text.startsWith('{') ? JSON.parse(text) : text;
}

function send(
  consumer: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
) {
  return fetch(`${proxy}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${keys[consumer]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body }),
  });
}

/** The admin answer once `ready` holds, polled for up to 5 s (the log writes in batches). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read loosely
async function eventually(path: string, ready: (body: any) => boolean): Promise<any> {
  for (let i = 0; ; i++) {
    const body = await adminCall('GET', path);
    if (ready(body) || i >= 50) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  requireBuild();
  dir = tempDir('truce-gw-analytics-');
  truce = await createServer(
    resolveConfig({
      storage: 'sqlite::memory:',
      collections: { products: { schema: { type: 'object', properties: { stock: { type: 'integer' } } } } },
    }),
  );
  const truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  gw = await runGateway(
    resolveGatewayConfig(
      {
        gateway: {
          listen: '127.0.0.1:0',
          admin: { listen: '127.0.0.1:0', key: ADMIN_KEY },
          storage: `sqlite:${join(dir.path, 'gateway.db')}`,
          upstreams: { shop: { targets: [truceUrl] } },
          routes: [
            { name: 'shop', match: { prefix: '/shop' }, stripPrefix: true, upstream: 'shop', auth: 'key' },
            {
              name: 'limited',
              match: { prefix: '/limited' },
              stripPrefix: true,
              upstream: 'shop',
              auth: 'key',
              rateLimit: { limit: 1, window: '1s', by: 'consumer' },
            },
            {
              name: 'strict',
              match: { prefix: '/strict' },
              stripPrefix: true,
              upstream: 'shop',
              auth: 'key',
              requirePreconditions: 'enforce',
            },
            {
              name: 'lax',
              match: { prefix: '/lax' },
              stripPrefix: true,
              upstream: 'shop',
              auth: 'key',
              requirePreconditions: 'warn',
            },
            {
              name: 'v1',
              match: { prefix: '/v1' },
              stripPrefix: true,
              upstream: 'shop',
              auth: 'key',
              lifecycle: { deprecated: '2026-01-01', sunset: '2099-01-01', link: '/shop' },
            },
            {
              name: 'v0',
              match: { prefix: '/v0' },
              stripPrefix: true,
              upstream: 'shop',
              auth: 'key',
              lifecycle: { deprecated: '2020-01-01', sunset: '2021-01-01', link: '/shop' },
            },
          ],
        },
      },
      { env: {} },
    ),
  );
  proxy = `http://127.0.0.1:${gw.proxyAddress.port}`;
  admin = `http://127.0.0.1:${gw.adminAddress!.port}`;
  for (const name of ['alice', 'bob', 'carol', 'dave']) {
    await adminCall('POST', '/consumers', { name });
    keys[name] = (await adminCall('POST', `/consumers/${name}/keys`)).key;
  }
}, 30_000);

afterAll(async () => {
  await gw?.stop(500);
  await truce?.close();
  dir?.remove();
});

describe('gateway analytics', () => {
  it('shows a lost update: the 412 with its stale-by write, the hotspot, both writers in order', async () => {
    const since = new Date().toISOString();
    const created = await send('alice', 'PUT', '/shop/products/anvil', {}, '{"stock":5}');
    expect(created.status).toBeLessThan(300);
    const read = await send('bob', 'GET', '/shop/products/anvil');
    const stale = read.headers.get('etag')!;
    await read.text();
    const winner = await send('alice', 'PUT', '/shop/products/anvil', { 'if-match': stale }, '{"stock":4}');
    expect(winner.status).toBe(200);
    const loser = await send('bob', 'PUT', '/shop/products/anvil', { 'if-match': stale }, '{"stock":3}');
    expect(loser.status).toBe(412);
    // Calls elsewhere, none of them conflicts.
    for (let i = 0; i < 3; i++)
      await (await send('carol', 'PUT', `/shop/products/nail-${i}`, {}, '{"stock":1}')).text();

    const sequence = await eventually(
      '/calls?resource=/products/anvil&order=asc',
      (b) => b.items.length >= 4,
    );
    expect(
      sequence.items.map((c: Record<string, unknown>) => [c['consumer'], c['method'], c['status']]),
    ).toEqual([
      ['alice', 'PUT', created.status],
      ['bob', 'GET', 200],
      ['alice', 'PUT', 200],
      ['bob', 'PUT', 412],
    ]);
    const conflict = await adminCall('GET', `/calls/${sequence.items[3].id}`);
    expect(conflict).toMatchObject({
      code: 'stale-write',
      staleBy: { id: sequence.items[2].id, consumer: 'alice', time: sequence.items[2].time },
    });

    const hot = await eventually(`/analytics/hotspots?by=resource&since=${since}`, (b) => b.items.length > 0);
    expect(hot.items[0]).toMatchObject({
      key: '/products/anvil',
      conflicts: 1,
      calls: 4,
      byCode: { 'stale-write': 1 },
    });
    const byConsumer = await adminCall('GET', `/analytics/hotspots?by=consumer&since=${since}`);
    expect(byConsumer.items.map((h: { key: string }) => h.key)).toEqual(['bob']);

    // Once the log holds all 7 calls (Carol's may come in a later batch than the product's).
    const all = await eventually(`/calls?route=shop&since=${since}&limit=1000`, (b) => b.items.length >= 7);
    const summary = await adminCall('GET', `/analytics/summary?route=shop&since=${since}`);
    expect(summary).toMatchObject({
      calls: all.items.length,
      conflicts: 1,
      errors: 0,
      byStatus: { '412': 1 },
    });
    const risk = await adminCall('GET', `/analytics/unconditional?since=${since}`);
    expect(risk.items).toEqual(
      expect.arrayContaining([{ consumer: 'alice', writes: 2, unconditional: 1, overlapping: 0 }]),
    );
    const openapi = await adminCall('GET', '/openapi.json');
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/analytics/summary', '/analytics/retries']),
    );
    const metrics = await adminCall('GET', '/metrics');
    expect(metrics).toContain(
      'truce_gateway_conflicts_total{route="shop",status="412",code="stale-write"} 1',
    );
  });

  it('reports a client that retries a 429 before Retry-After as early, and one that waits as not', async () => {
    const since = new Date().toISOString();
    const get = (who: string) => send(who, 'GET', '/limited/products/anvil');
    expect((await get('carol')).status).toBe(200);
    const limited = await get('carol');
    expect(limited.status).toBe(429);
    expect((await get('carol')).status).toBe(429);

    expect((await get('dave')).status).toBe(200);
    const refused = await get('dave');
    expect(refused.status).toBe(429);
    await new Promise((r) => setTimeout(r, Number(refused.headers.get('retry-after')) * 1000 + 100));
    expect((await get('dave')).status).toBe(200);

    const retries = await eventually(`/analytics/retries?since=${since}`, (b) => b.items.length >= 2);
    expect(retries.items).toEqual(
      expect.arrayContaining([
        { consumer: 'carol', retries: 1, early: 1, blind: 0 },
        { consumer: 'dave', retries: 1, early: 0, blind: 0 },
      ]),
    );
    const carol = await adminCall('GET', `/calls?consumer=carol&route=limited&order=asc`);
    expect(carol.items.map((c: Record<string, unknown>) => [c['status'], c['retryOf'], c['early']])).toEqual([
      [200, null, false],
      [429, null, false],
      [429, carol.items[1].id, true],
    ]);
  }, 15_000);

  it('guards writes: enforce answers 428 and the server never sees the write, warn lets it through marked', async () => {
    const refused = await send('alice', 'PUT', '/strict/products/guarded', {}, '{"stock":1}');
    expect(refused.status).toBe(428);
    expect(await refused.json()).toMatchObject({ code: 'precondition-required' });
    // The server never saw it: the product does not exist.
    expect((await send('alice', 'GET', '/shop/products/guarded')).status).toBe(404);
    const warned = await send('alice', 'PUT', '/lax/products/guarded', {}, '{"stock":2}');
    expect(warned.status).toBe(201);
    expect(warned.headers.get('truce-warning')).toBe('unconditional-write');
    const etag = warned.headers.get('etag')!;
    const passed = await send(
      'alice',
      'PUT',
      '/strict/products/guarded',
      { 'if-match': etag },
      '{"stock":3}',
    );
    expect(passed.status).toBe(200);
    expect(passed.headers.get('truce-warning')).toBeNull();

    const calls = await eventually('/calls?resource=/products/guarded&order=asc', (b) => b.items.length >= 4);
    expect(
      calls.items.map((c: Record<string, unknown>) => [c['route'], c['status'], c['unconditionalWarned']]),
    ).toEqual([
      ['strict', 428, false],
      ['shop', 404, false],
      ['lax', 201, true],
      ['strict', 200, false],
    ]);
    const metrics = await adminCall('GET', '/metrics');
    expect(metrics).toContain('truce_gateway_guard_decisions_total{route="strict",decision="refused"} 1');
    expect(metrics).toContain('truce_gateway_guard_decisions_total{route="strict",decision="passed"} 1');
    expect(metrics).toContain('truce_gateway_guard_decisions_total{route="lax",decision="warned"} 1');
  });

  it('reports who calls a deprecated route and who still calls a retired one (410), per consumer', async () => {
    const since = new Date().toISOString();
    for (let i = 0; i < 3; i++) expect((await send('alice', 'GET', '/v1/products/anvil')).status).toBe(200);
    const bobs = await send('bob', 'GET', '/v1/products/anvil');
    expect(bobs.headers.get('deprecation')).toBe(`@${Date.UTC(2026, 0, 1) / 1000}`);
    // After the sunset: 410 whatever the key, but a valid key still says who called.
    for (let i = 0; i < 2; i++) expect((await send('bob', 'GET', '/v0/products/anvil')).status).toBe(410);
    const unknown = await fetch(`${proxy}/v0/products/anvil`, { headers: { 'x-api-key': 'no-such-key' } });
    expect(unknown.status).toBe(410);
    expect((await send('carol', 'GET', '/shop/products/anvil')).status).toBe(200);

    const report = await eventually(
      `/analytics/lifecycle?since=${since}`,
      (b) => b.items.reduce((n: number, i: { calls: number }) => n + i.calls, 0) >= 7,
    );
    const at = (route: string) => report.items.find((i: { route: string }) => i.route === route);
    expect(report.items.map((i: { route: string }) => i.route)).toEqual(['v1', 'v0']);
    expect(at('v1')).toMatchObject({
      deprecated: '2026-01-01T00:00:00.000Z',
      sunset: '2099-01-01T00:00:00.000Z',
      link: '/shop',
      calls: 4,
      gone: 0,
      consumers: [
        { consumer: 'alice', calls: 3, gone: 0 },
        { consumer: 'bob', calls: 1, gone: 0 },
      ],
    });
    expect(at('v0')).toMatchObject({
      sunset: '2021-01-01T00:00:00.000Z',
      calls: 3,
      gone: 3,
      consumers: [
        { consumer: 'bob', calls: 2, gone: 2 },
        { consumer: null, calls: 1, gone: 1 },
      ],
    });
    const bobsLast = await adminCall('GET', '/calls?consumer=bob&route=v0&limit=1');
    expect(at('v0').consumers[0].lastAt).toBe(bobsLast.items[0].time);
    // The retired route's calls are in the resource's call sequence too.
    const onResource = await adminCall('GET', '/calls?route=v0&resource=/products/anvil');
    expect(onResource.items.map((c: { status: number }) => c.status)).toEqual([410, 410, 410]);
    expect((await adminCall('GET', `/analytics/lifecycle?route=v0&since=${since}`)).items).toEqual([
      at('v0'),
    ]);
  });
});
