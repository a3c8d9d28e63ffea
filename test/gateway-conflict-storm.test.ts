import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createServer, resolveConfig } from '@truce/server';
import { resolveGatewayConfig } from '../packages/gateway/src/config/load.js';
import { runGateway, type RunningGateway } from '../packages/gateway/src/run.js';
import { requireBuild, tempDir } from './helpers.js';

/*
 * Issue 12's first must-hold, whole, through real sockets: a real Truce server behind a real
 * gateway, two consumers (API keys) writing one product, Bob with a stale If-Match. The 412 is in
 * the call log; the product tops `hotspots?by=resource`; the call sequence on it shows both writers
 * in order, and each 412 links the write that made Bob's version stale; a conflict-rate rule fires
 * exactly once, to a real webhook receiver and on the SSE stream, and resolves exactly once after
 * the conflicts stop. Alert windows are seconds long, so the test takes seconds; every wait is bounded.
 */

const ADMIN_KEY = 'conflict-storm-admin-key-0123456789';
// Long enough that the storm never thins below minSamples in it, even with calls slowed by a busy
// machine (the rule would resolve mid-storm and fire again), short enough that it resolves soon.
const WINDOW_MS = 4_000;
let dir: ReturnType<typeof tempDir>;
let truce: FastifyInstance;
let gw: RunningGateway;
let proxy: string;
let admin: string;
let hook: Server;
const hooked: Record<string, unknown>[] = [];
const keys: Record<string, string> = {};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read loosely
async function adminGet(path: string, body?: unknown, method = 'GET'): Promise<any> {
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
  return JSON.parse(text);
}

/** Waits for `check` to hold, at most `ms`; fails with `what` otherwise. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A consumer's PUT of a product, with If-Match when given. */
async function put(consumer: string, id: string, stock: number, ifMatch?: string) {
  const res = await fetch(`${proxy}/shop/products/${id}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${keys[consumer]}`,
      'content-type': 'application/json',
      ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }),
    },
    body: JSON.stringify({ stock }),
  });
  await res.arrayBuffer();
  return res;
}

/** The events of `GET /alerts/events` as they arrive, read from a real SSE connection. */
function openStream(): {
  events: { type: string; data: Record<string, unknown> }[];
  open: () => boolean;
  close: () => void;
} {
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const abort = new AbortController();
  let open = false;
  void (async () => {
    const res = await fetch(`${admin}/alerts/events`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    open = true;
    const decoder = new TextDecoder();
    const reader = res.body!.getReader();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = text.indexOf('\n\n')) !== -1) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const type = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (type && data) events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
  })().catch(() => undefined);
  return { events, open: () => open, close: () => abort.abort() };
}

beforeAll(async () => {
  requireBuild();
  dir = tempDir('truce-gw-storm-');
  truce = await createServer(
    resolveConfig({
      storage: 'sqlite::memory:',
      collections: { products: { schema: { type: 'object', properties: { stock: { type: 'integer' } } } } },
    }),
  );
  const truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  hook = createHttpServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      hooked.push(JSON.parse(text) as Record<string, unknown>);
      res.end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks`;
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
          ],
          alerts: [
            {
              name: 'conflict-storm',
              metric: 'conflict-rate',
              route: 'shop',
              window: `${WINDOW_MS}ms`,
              // From 8 calls on, the storm's rate never dips to 0.3 (at 7 it is 2/7): no flapping.
              minSamples: 8,
              above: 0.3,
              webhook: hookUrl,
            },
          ],
        },
      },
      { env: {} },
    ),
    { alerts: { evaluateMs: 100 } },
  );
  proxy = `http://127.0.0.1:${gw.proxyAddress.port}`;
  admin = `http://127.0.0.1:${gw.adminAddress!.port}`;
  for (const name of ['alice', 'bob']) {
    await adminGet('/consumers', { name }, 'POST');
    keys[name] = (await adminGet(`/consumers/${name}/keys`, {}, 'POST')).key;
  }
}, 30_000);

afterAll(async () => {
  await gw?.stop(500);
  await truce?.close();
  await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
  dir?.remove();
});

it('a conflict storm by two consumers: in the log, the top hotspot, the sequence with its links, one alert fired and resolved', async () => {
  const since = new Date().toISOString();
  const stream = openStream();
  try {
    // The stream is open once it has sent its headers; the rule is ok until the storm starts.
    await until('the alert stream', stream.open);
    expect((await adminGet('/alerts')).items[0]).toMatchObject({ state: 'ok' });

    // A quieter conflict elsewhere, so the hotspot ranking has something to rank against.
    const nail = await put('alice', 'nail', 1);
    const nailTag = nail.headers.get('etag')!;
    expect((await put('alice', 'nail', 2, nailTag)).status).toBe(200);
    expect((await put('bob', 'nail', 3, nailTag)).status).toBe(412);

    // The storm: Alice writes with the ETag of her last write; Bob keeps the one he read first.
    const created = await put('alice', 'anvil', 10);
    expect(created.status).toBe(201);
    const stale = created.headers.get('etag')!;
    let current = stale;
    for (let i = 0; i < 6; i++) {
      const alice = await put('alice', 'anvil', 9 - i, current);
      expect(alice.status).toBe(200);
      current = alice.headers.get('etag')!;
      expect((await put('bob', 'anvil', 100, stale)).status).toBe(412);
    }

    // Fired exactly once, at the webhook and on the stream.
    await until('the fire event at the webhook', () => hooked.length >= 1);
    await until('the fire event on the stream', () => stream.events.length >= 1);
    expect(hooked[0]).toMatchObject({
      event: 'fire',
      rule: 'conflict-storm',
      metric: 'conflict-rate',
      route: 'shop',
    });
    expect(stream.events[0]).toMatchObject({ type: 'fire', data: { rule: 'conflict-storm', route: 'shop' } });
    expect((await adminGet('/alerts')).items[0]).toMatchObject({ name: 'conflict-storm', state: 'firing' });

    // The 412s are in the log (written in batches: polled), with their code, and Bob as their consumer.
    const refusedPath = `/calls?route=shop&status=412&since=${since}&order=asc`;
    await until('the 412s in the log', async () => (await adminGet(refusedPath)).items.length >= 7);
    const refused = await adminGet(refusedPath);
    expect(
      refused.items.map((c: Record<string, unknown>) => [c['consumer'], c['resource'], c['code']]),
    ).toEqual([
      ['bob', '/products/nail', 'stale-write'],
      ...Array.from({ length: 6 }, () => ['bob', '/products/anvil', 'stale-write']),
    ]);

    // The product tops the hotspots by resource; Bob tops them by consumer.
    const hot = await adminGet(`/analytics/hotspots?by=resource&since=${since}`);
    expect(hot.items.map((h: Record<string, unknown>) => [h['key'], h['conflicts'], h['calls']])).toEqual([
      ['/products/anvil', 6, 13],
      ['/products/nail', 1, 3],
    ]);
    expect((await adminGet(`/analytics/hotspots?by=consumer&since=${since}`)).items[0]).toMatchObject({
      key: 'bob',
      conflicts: 7,
    });

    // The sequence on the product: both writers in the order they wrote.
    const sequence = await adminGet(`/calls?resource=/products/anvil&order=asc`);
    const steps = sequence.items as Record<string, unknown>[];
    expect(steps.map((c) => [c['consumer'], c['status']])).toEqual([
      ['alice', 201],
      ...Array.from({ length: 6 }, () => [
        ['alice', 200],
        ['bob', 412],
      ]).flat(),
    ]);
    expect(steps.map((c) => Date.parse(String(c['time'])))).toEqual(
      steps.map((c) => Date.parse(String(c['time']))).sort((a, b) => a - b),
    );
    // Each 412 links the write that made Bob's ETag stale: Alice's write just before it.
    for (let i = 2; i < steps.length; i += 2) {
      const conflict = await adminGet(`/calls/${String(steps[i]!['id'])}`);
      expect(conflict.staleBy).toEqual({
        id: steps[i - 1]!['id'],
        consumer: 'alice',
        time: steps[i - 1]!['time'],
      });
    }

    // The conflicts stop. The rule stays firing while the storm's calls are in its window (any 8 or
    // more of them in a row are over 30% conflicts), and resolves once when fewer than minSamples
    // are left.
    await until('the resolve event at the webhook', () => hooked.length >= 2, WINDOW_MS + 10_000);
    await until('the resolve event on the stream', () => stream.events.length >= 2);
    expect(hooked[1]).toMatchObject({ event: 'resolve', rule: 'conflict-storm' });
    expect(hooked[1]!['samples']).toBeLessThan(8);
    expect(stream.events[1]).toMatchObject({ type: 'resolve', data: { rule: 'conflict-storm' } });
    // Several evaluations later, still one of each.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(hooked.map((e) => e['event'])).toEqual(['fire', 'resolve']);
    expect(stream.events.map((e) => e.type)).toEqual(['fire', 'resolve']);
    expect((await adminGet('/alerts')).items[0]).toMatchObject({ state: 'ok' });
  } finally {
    stream.close();
  }
}, 30_000);
