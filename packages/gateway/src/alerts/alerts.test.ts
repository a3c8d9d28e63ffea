import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../config/load.js';
import { runGateway, type RunningGateway } from '../run.js';
import type { AlertOptions } from './engine.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/**
 * An upstream with one versioned resource per path: a PUT whose If-Match names the current version
 * succeeds and bumps it; any other If-Match is 412 (the lost update the gateway should see).
 */
async function versionedUpstream(): Promise<string> {
  const versions = new Map<string, number>();
  return listen(
    createServer((req, res) => {
      const v = versions.get(req.url!) ?? 1;
      if (req.method === 'PUT' && req.headers['if-match'] !== `"${v}"`) {
        res.writeHead(412, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ status: 412, code: 'stale-write', title: 'stale' }));
        return;
      }
      if (req.method === 'PUT') versions.set(req.url!, v + 1);
      res.writeHead(200, { etag: `"${versions.get(req.url!) ?? v}"`, 'content-type': 'application/json' });
      res.end('{}');
    }),
  );
}

/** A webhook receiver: `answer` decides each delivery's fate; every body is kept in order. */
async function receiver(
  answer: (n: number, req: IncomingMessage, res: ServerResponse) => void = (_n, _q, res) => res.end(),
) {
  const received: { body: Record<string, unknown>; at: number; id: string | undefined }[] = [];
  const url = await listen(
    createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        received.push({
          body: JSON.parse(text) as Record<string, unknown>,
          at: Date.now(),
          id: req.headers['truce-alert-event'] as string | undefined,
        });
        answer(received.length, req, res);
      });
    }),
  );
  return { url, received };
}

async function gateway(rule: Record<string, unknown>, options: AlertOptions = {}) {
  const upstream = await versionedUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'truce-alerts-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = resolveGatewayConfig(
    {
      gateway: {
        listen: '127.0.0.1:0',
        admin: { listen: '127.0.0.1:0', key: ADMIN_KEY },
        storage: `sqlite:${join(dir, 'gateway.db')}`,
        upstreams: { shop: { targets: [upstream] } },
        routes: [{ name: 'shop', match: { prefix: '/shop' }, stripPrefix: true, upstream: 'shop' }],
        alerts: [{ name: 'conflict-storm', metric: 'conflict-rate', route: 'shop', window: '2s', ...rule }],
      },
    },
    { env: {} },
  );
  const gw: RunningGateway = await runGateway(config, { alerts: { evaluateMs: 50, ...options } });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await gw.stop(500);
  };
  cleanups.push(stop);
  const proxy = `http://127.0.0.1:${gw.proxyAddress.port}`;
  const admin = `http://127.0.0.1:${gw.adminAddress!.port}`;
  const put = async (path: string, etag: string) => {
    const res = await fetch(`${proxy}${path}`, { method: 'PUT', headers: { 'if-match': etag }, body: '{}' });
    await res.arrayBuffer();
    return res.status;
  };
  return { gw, proxy, admin, put, stop };
}

/** Polls `check` every 20 ms until it holds, for at most `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads an SSE stream into parsed events as they come. */
async function sse(url: string, headers: Record<string, string> = {}) {
  const stop = new AbortController();
  const res = await fetch(url, { headers: { ...auth, ...headers }, signal: stop.signal });
  const events: { event: string; id: string; data: Record<string, unknown> }[] = [];
  const comments: string[] = [];
  let buffer = '';
  let ended = false;
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          ended = true;
          break;
        }
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields: Record<string, string> = Object.fromEntries(
            block
              .split('\n')
              .filter((l) => !l.startsWith(':'))
              .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
          );
          comments.push(...block.split('\n').filter((l) => l.startsWith(':')));
          if (fields['event'])
            events.push({
              event: fields['event'],
              id: fields['id'] ?? '',
              data: JSON.parse(fields['data'] ?? 'null') as Record<string, unknown>,
            });
        }
      }
    } catch {
      // aborted
    }
  })();
  cleanups.push(() => stop.abort());
  return { res, events, comments, ended: () => ended, close: () => stop.abort() };
}

describe('alerts (SPEC 5.1, 5.4, 5.6)', () => {
  it('a conflict storm fires once and resolves once, to a real webhook and on the SSE stream', async () => {
    const hook = await receiver();
    const { admin, put } = await gateway({ minSamples: 5, above: 0.5, webhook: hook.url });
    const stream = await sse(`${admin}/alerts/events`);
    expect(stream.res.headers.get('content-type')).toMatch(/^text\/event-stream/);

    // Two writers on one resource: alice keeps up with the versions, bob keeps a stale ETag.
    expect(await put('/shop/products/anvil', '"1"')).toBe(200);
    for (let i = 0; i < 10; i++) expect(await put('/shop/products/anvil', '"1"')).toBe(412);
    await until(() => hook.received.length >= 1);
    const fired = hook.received[0]!.body;
    expect(fired).toMatchObject({
      event: 'fire',
      rule: 'conflict-storm',
      metric: 'conflict-rate',
      route: 'shop',
      above: 0.5,
    });
    expect(fired['value']).toBeGreaterThan(0.5);
    expect(fired['samples']).toBeGreaterThanOrEqual(5);
    expect(Date.parse(fired['time'] as string)).not.toBeNaN();
    const listed = (await (await fetch(`${admin}/alerts`, { headers: auth })).json()) as {
      items: Record<string, unknown>[];
    };
    expect(listed.items).toEqual([
      expect.objectContaining({ name: 'conflict-storm', state: 'firing', route: 'shop' }),
    ]);

    // The conflicts stop: alice's successful writes bring the rate under the threshold.
    for (let v = 2; v < 30; v++) expect(await put('/shop/products/anvil', `"${v}"`)).toBe(200);
    await until(() => hook.received.length >= 2);
    expect(hook.received[1]!.body).toMatchObject({ event: 'resolve', rule: 'conflict-storm' });
    expect(hook.received[1]!.body['value']).toBeLessThanOrEqual(0.5);

    // Exactly one of each, also after more evaluations and after the window empties.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(hook.received.map((r) => r.body['event'])).toEqual(['fire', 'resolve']);
    expect(stream.events.map((e) => [e.event, e.id])).toEqual([
      ['fire', '1'],
      ['resolve', '2'],
    ]);
    expect(stream.events.map((e) => e.data)).toEqual(hook.received.map((r) => r.body));
    expect(hook.received.map((r) => r.id)).toEqual(['1', '2']);

    // A client that saw event 1 resumes with Last-Event-ID and gets only what came after.
    const resumed = await sse(`${admin}/alerts/events`, { 'last-event-id': '1' });
    await until(() => resumed.events.length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(resumed.events.map((e) => [e.event, e.id])).toEqual([['resolve', '2']]);
    const recent = (await (await fetch(`${admin}/alerts/events?format=json`, { headers: auth })).json()) as {
      items: Record<string, unknown>[];
    };
    expect(recent.items.map((e) => [e['id'], e['event']])).toEqual([
      [1, 'fire'],
      [2, 'resolve'],
    ]);

    const metrics = await (await fetch(`${admin}/metrics`, { headers: auth })).text();
    expect(metrics).toContain('truce_gateway_alert_firing{rule="conflict-storm"} 0');
    expect(metrics).toContain(
      'truce_gateway_alert_webhook_deliveries{rule="conflict-storm",outcome="delivered"} 2',
    );
  });

  it('does not fire below minSamples, whatever the value', async () => {
    const hook = await receiver();
    const { admin, put } = await gateway({ window: '10s', minSamples: 20, above: 0.2, webhook: hook.url });
    for (let i = 0; i < 8; i++) expect(await put('/shop/products/hammer', '"0"')).toBe(412);
    await until(async () => {
      const body = (await (await fetch(`${admin}/alerts`, { headers: auth })).json()) as {
        items: { samples: number }[];
      };
      return body.items[0]!.samples === 8;
    });
    await new Promise((r) => setTimeout(r, 300)); // several more evaluations
    const body = (await (await fetch(`${admin}/alerts`, { headers: auth })).json()) as {
      items: Record<string, unknown>[];
    };
    expect(body.items[0]).toMatchObject({ state: 'ok', value: 1, samples: 8, minSamples: 20 });
    expect(hook.received).toEqual([]);
    const recent = (await (await fetch(`${admin}/alerts/events?format=json`, { headers: auth })).json()) as {
      items: unknown[];
    };
    expect(recent.items).toEqual([]);
  });

  it('a webhook receiver that hangs never holds up the proxy or the stream', async () => {
    const hanging: ServerResponse[] = [];
    const hook = await receiver((_n, _req, res) => hanging.push(res)); // never answers
    const { admin, put } = await gateway({ minSamples: 3, above: 0.5, webhook: hook.url });
    const stream = await sse(`${admin}/alerts/events`);
    for (let i = 0; i < 5; i++) expect(await put('/shop/products/saw', '"0"')).toBe(412);
    await until(() => hanging.length === 1 && stream.events.length === 1);
    // The delivery is still open at the receiver while the proxy keeps answering.
    for (let i = 0; i < 20; i++) expect(await put('/shop/products/saw', '"1"')).toBe(i === 0 ? 200 : 412);
    expect(hanging[0]!.writableEnded).toBe(false);
    expect(hook.received).toHaveLength(1);
    expect(stream.events[0]!.event).toBe('fire');
  });

  it('retries a failing receiver with growing waits until it takes the event', async () => {
    const hook = await receiver((n, _req, res) => {
      res.statusCode = n <= 2 ? 503 : 204;
      res.end();
    });
    const { admin, put } = await gateway(
      { minSamples: 3, above: 0.5, webhook: hook.url },
      { webhook: { firstDelayMs: 150, factor: 2, maxDelayMs: 1_000 } },
    );
    for (let i = 0; i < 5; i++) expect(await put('/shop/products/drill', '"0"')).toBe(412);
    await until(() => hook.received.length >= 3);
    await new Promise((r) => setTimeout(r, 300));
    // The same event three times (the receiver can tell by its id), then nothing more.
    expect(hook.received.map((r) => [r.body['event'], r.id])).toEqual([
      ['fire', '1'],
      ['fire', '1'],
      ['fire', '1'],
    ]);
    const [a, b, c] = hook.received.map((r) => r.at) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(140);
    expect(c - b).toBeGreaterThanOrEqual(290);
    const metrics = await (await fetch(`${admin}/metrics`, { headers: auth })).text();
    expect(metrics).toContain('truce_gateway_alert_firing{rule="conflict-storm"} 1');
    expect(metrics).toContain(
      'truce_gateway_alert_webhook_deliveries{rule="conflict-storm",outcome="retried"} 2',
    );
    expect(metrics).toContain(
      'truce_gateway_alert_webhook_deliveries{rule="conflict-storm",outcome="delivered"} 1',
    );
  });

  it('needs the admin key, bounds the number of streams, and ends them when it stops', async () => {
    const { admin, stop } = await gateway({ minSamples: 3, above: 0.5 }, { maxStreams: 1, heartbeatMs: 50 });
    expect((await fetch(`${admin}/alerts`)).status).toBe(401);
    expect((await fetch(`${admin}/alerts/events`)).status).toBe(401);
    const open = await sse(`${admin}/alerts/events`);
    await until(() => open.comments.includes(': heartbeat'));
    const refused = await fetch(`${admin}/alerts/events`, { headers: auth });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ code: 'busy' });
    const openapi = (await (await fetch(`${admin}/openapi.json`, { headers: auth })).json()) as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/alerts', '/alerts/events']));
    expect(Object.keys(openapi.components.schemas)).toEqual(
      expect.arrayContaining(['AlertRule', 'AlertEvent', 'Problem']),
    );
    // Stopping does not wait for a stream that would never end by itself: it ends it.
    await stop();
    await until(() => open.ended(), 2_000);
  });
});
