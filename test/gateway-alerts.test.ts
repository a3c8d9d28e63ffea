import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createServer, resolveConfig } from '@truce/server';
import type { FastifyInstance } from 'fastify';
import { CLI, exited, requireBuild, ROOT, tempDir } from './helpers.js';

/*
 * Issue 12, alerts: `truce gateway` with two proxy workers in front of a real Truce server. Two
 * clients write one product, one with a stale If-Match; the conflict-rate rule, evaluated in the
 * primary over the records every worker sends it, fires once to a real webhook receiver, and
 * resolves once when the conflicts stop and the window empties.
 */

const ADMIN_KEY = 'gateway-admin-key-0123456789';
const auth = { authorization: `Bearer ${ADMIN_KEY}` };
let dir: ReturnType<typeof tempDir>;
let truce: FastifyInstance;
let truceUrl: string;
let hook: Server;
let hookUrl: string;
const received: Record<string, unknown>[] = [];

beforeAll(async () => {
  requireBuild();
  dir = tempDir('truce-gateway-alerts-');
  truce = await createServer(resolveConfig({ storage: 'sqlite::memory:', collections: { products: {} } }));
  truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  hook = createHttpServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(text) as Record<string, unknown>);
      res.end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks`;
});
afterAll(async () => {
  await truce.close();
  await new Promise<void>((r) => hook.close(() => r()));
  dir.remove();
});

function startGateway(file: string): Promise<{ child: ChildProcess; proxy: string; admin: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'gateway', '--config', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TRUCE_TEST_ADMIN_KEY: ADMIN_KEY },
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`truce gateway did not start:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const proxy = /proxying on (http:\/\/\S+)/.exec(out);
      const admin = /admin API on (http:\/\/\S+)/.exec(out);
      if (proxy && admin) {
        clearTimeout(timer);
        resolve({ child, proxy: proxy[1]!, admin: admin[1]! });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
}

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('a conflict storm through two workers fires once and resolves once at a real webhook', async () => {
  const file = join(dir.path, 'gateway.yaml');
  writeFileSync(
    file,
    `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "\${TRUCE_TEST_ADMIN_KEY}" }
  storage: sqlite:${join(dir.path, 'gateway.db')}
  workers: 2
  upstreams:
    shop: { targets: [${truceUrl}] }
  routes:
    - { name: shop, match: { prefix: /shop }, stripPrefix: true, upstream: shop }
  alerts:
    - { name: conflict-storm, metric: conflict-rate, route: shop, window: 3s, minSamples: 6, above: 0.3, webhook: ${hookUrl} }
`,
  );
  const gw = await startGateway(file);
  try {
    const url = `${gw.proxy}/shop/products/anvil`;
    const put = (etag: string | null, stock: number) =>
      fetch(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(etag ? { 'if-match': etag } : {}) },
        body: JSON.stringify({ stock }),
      });
    const created = await put(null, 10);
    expect(created.status).toBe(201);
    const stale = created.headers.get('etag')!;
    // Alice reads and writes with the current ETag; Bob keeps writing with the one he read first.
    let current = stale;
    for (let i = 0; i < 6; i++) {
      const alice = await put(current, 9 - i);
      expect(alice.status).toBe(200);
      current = alice.headers.get('etag')!;
      expect((await put(stale, 100)).status).toBe(412);
    }
    await until(() => received.length >= 1, 10_000);
    expect(received[0]).toMatchObject({ event: 'fire', rule: 'conflict-storm', route: 'shop', above: 0.3 });
    expect(received[0]!['samples']).toBeGreaterThanOrEqual(6);
    const alerts = (await (await fetch(`${gw.admin}/alerts`, { headers: auth })).json()) as {
      items: Record<string, unknown>[];
    };
    expect(alerts.items[0]).toMatchObject({ name: 'conflict-storm', state: 'firing' });

    // The conflicts stop; once the window holds fewer than minSamples calls the rule resolves.
    await until(() => received.length >= 2, 10_000);
    expect(received[1]).toMatchObject({ event: 'resolve', rule: 'conflict-storm' });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(received.map((e) => e['event'])).toEqual(['fire', 'resolve']);
    const metrics = await (await fetch(`${gw.admin}/metrics`, { headers: auth })).text();
    expect(metrics).toContain('truce_gateway_alert_firing{rule="conflict-storm"} 0');
  } finally {
    gw.child.kill('SIGTERM');
    expect(await exited(gw.child)).toBe(0);
  }
});
