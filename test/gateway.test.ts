import Database from 'better-sqlite3';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, resolveConfig } from '@truce/server';
import type { FastifyInstance } from 'fastify';
import { exited, freePort, requireBuild, runCli, startServe, tempDir } from './helpers.js';
import { adminCall, startGateway as start } from './support/gateway.js';

const ADMIN_KEY = 'gateway-admin-key-0123456789';
let dir: ReturnType<typeof tempDir>;
let truce: FastifyInstance;
let truceUrl: string;

beforeAll(async () => {
  requireBuild();
  dir = tempDir('truce-gateway-');
  truce = await createServer(
    resolveConfig({
      storage: 'sqlite::memory:',
      collections: {
        products: { schema: { type: 'object', properties: { stock: { type: 'integer', minimum: 0 } } } },
      },
    }),
  );
  truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await truce.close();
  dir.remove();
});

const children: ChildProcess[] = [];
const startGateway = (file: string) => start(file, children, { TRUCE_TEST_ADMIN_KEY: ADMIN_KEY });
const admin = (base: string, method: string, path: string, body?: unknown) =>
  adminCall(ADMIN_KEY, base, method, path, body);
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
});

function writeConfig(name: string, body: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, body);
  return file;
}

function gatewayYaml(db: string): string {
  return `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "\${TRUCE_TEST_ADMIN_KEY}" }
  storage: sqlite:${db}
  upstreams:
    shop: { targets: [${truceUrl}] }
  routes:
    - { name: shop, match: { prefix: /shop }, stripPrefix: true, upstream: shop, auth: key, subscription: approval }
`;
}

describe('truce gateway', () => {
  it('passes a stale-write through byte for byte and logs it with its code and resource', async () => {
    const gw = await startGateway(writeConfig('a.yaml', gatewayYaml(join(dir.path, 'a.db'))));
    await admin(gw.admin, 'POST', '/consumers', { name: 'alice' });
    const key = (await admin(gw.admin, 'POST', '/consumers/alice/keys')).body['key'] as string;
    const sub = (await admin(gw.admin, 'POST', '/subscriptions', { consumer: 'alice', route: 'shop' })).body;
    await admin(gw.admin, 'POST', `/subscriptions/${sub['id']}/approve`);

    const created = await fetch(`${truceUrl}/products/hammer`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"stock":3}',
    });
    const stale = created.headers.get('etag')!;
    await fetch(`${truceUrl}/products/hammer`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-match': stale },
      body: '{"stock":2}',
    });
    const write = { method: 'PUT', body: '{"stock":1}' };
    const direct = await fetch(`${truceUrl}/products/hammer`, {
      ...write,
      headers: { 'content-type': 'application/json', 'if-match': stale },
    });
    const viaGateway = await fetch(`${gw.proxy}/shop/products/hammer`, {
      ...write,
      headers: { 'content-type': 'application/json', 'if-match': stale, authorization: `Bearer ${key}` },
    });
    expect(viaGateway.status).toBe(412);
    const directBody = await direct.text();
    const gatewayBody = await viaGateway.text();
    // The instance is the upstream path in both; everything else, `changedBy` included, is the same state.
    expect(gatewayBody).toBe(directBody);
    expect(viaGateway.headers.get('link')).toBe('</shop/products/hammer>; rel="latest-version"');

    let calls: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && calls.length === 0; i++) {
      calls = (await admin(gw.admin, 'GET', '/calls?resource=/products/hammer')).body.items!;
      if (calls.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      status: 412,
      code: 'stale-write',
      resource: '/products/hammer',
      consumer: 'alice',
      conditional: true,
    });
  });

  it('revocation through one process stops the very next request through another', async () => {
    const file = writeConfig('b.yaml', gatewayYaml(join(dir.path, 'b.db')));
    const [one, two] = await Promise.all([startGateway(file), startGateway(file)]);
    await admin(one.admin, 'POST', '/consumers', { name: 'bob' });
    const key = (await admin(one.admin, 'POST', '/consumers/bob/keys')).body['key'] as string;
    const sub = (await admin(one.admin, 'POST', '/subscriptions', { consumer: 'bob', route: 'shop' })).body;
    const asBob = (base: string) =>
      fetch(`${base}/shop/products`, { headers: { authorization: `Bearer ${key}` } });
    expect((await asBob(two.proxy)).status).toBe(403);
    await admin(two.admin, 'POST', `/subscriptions/${sub['id']}/approve`);
    expect((await asBob(one.proxy)).status).toBe(200);
    expect((await asBob(two.proxy)).status).toBe(200);
    await admin(two.admin, 'POST', `/subscriptions/${sub['id']}/revoke`);
    const next = await asBob(one.proxy);
    expect(next.status).toBe(403);
    expect(await next.json()).toMatchObject({ code: 'subscription-required', subscription: 'revoked' });
    await admin(one.admin, 'POST', `/subscriptions/${sub['id']}/approve`);
    expect((await asBob(two.proxy)).status).toBe(200);
    const keyId = (await admin(two.admin, 'GET', '/consumers/bob/keys')).body.items![0]!['id'];
    await fetch(`${two.admin}/consumers/bob/keys/${String(keyId)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect((await asBob(one.proxy)).status).toBe(401);
  });

  it('drains and flushes the call log on SIGTERM, exiting 0', async () => {
    const db = join(dir.path, 'c.db');
    const file = writeConfig(
      'c.yaml',
      gatewayYaml(db).replace('auth: key, subscription: approval', 'auth: none'),
    );
    const gw = await startGateway(file);
    for (let i = 0; i < 20; i++) expect((await fetch(`${gw.proxy}/shop/products`)).status).toBe(200);
    gw.child.kill('SIGTERM');
    expect(await exited(gw.child)).toBe(0);
    const raw = new Database(db, { readonly: true });
    const count = (raw.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;
    raw.close();
    expect(count).toBe(20);
  });

  it('runs several proxy workers on one port, the call log written by the primary, metrics summed', async () => {
    const db = join(dir.path, 'w.db');
    const yaml = gatewayYaml(db)
      .replace('auth: key, subscription: approval', 'auth: none')
      .replace('  storage:', '  workers: 2\n  storage:');
    const gw = await startGateway(writeConfig('w.yaml', yaml));
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => fetch(`${gw.proxy}/shop/products`).then((r) => r.status)),
    );
    expect(answers.every((s) => s === 200)).toBe(true);
    let items: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && items.length < 60; i++) {
      items = (await admin(gw.admin, 'GET', '/calls?limit=100')).body.items!;
      if (items.length < 60) await new Promise((r) => setTimeout(r, 100));
    }
    expect(items).toHaveLength(60);
    // Call ids carry the process that served them: both workers took a share.
    const processes = new Set(items.map((c) => String(c['id']).split('-')[1]));
    expect(processes.size).toBe(2);
    const metrics = await (
      await fetch(`${gw.admin}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    ).text();
    expect(metrics).toMatch(
      /truce_gateway_requests_total\{route="shop",method="GET",status="2xx",code="",target="[^"]+"\} 60/,
    );
    expect(metrics).toContain('truce_gateway_workers 2');
    gw.child.kill('SIGTERM');
    expect(await exited(gw.child)).toBe(0);
  });

  it('keeps serving through the other target when one is killed under load, ejects it, and takes it back after a restart', async () => {
    const data = join(dir.path, 'k.db');
    const serverConfig = writeConfig(
      'k-server.yaml',
      `storage: sqlite:${data}\ncollections:\n  products: {}\n`,
    );
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startServe(['--config', serverConfig, '--listen', `127.0.0.1:${portA}`]);
    children.push(a.child);
    let b = await startServe(['--config', serverConfig, '--listen', `127.0.0.1:${portB}`]);
    children.push(b.child);
    await fetch(`${a.url}/products/p1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"stock":1}',
    });
    const gw = await startGateway(
      writeConfig(
        'k.yaml',
        `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "\${TRUCE_TEST_ADMIN_KEY}" }
  storage: sqlite:${join(dir.path, 'k-gw.db')}
  upstreams:
    shop:
      targets: [http://127.0.0.1:${portA}, http://127.0.0.1:${portB}]
      healthCheck: { path: /_health, interval: 200ms, timeout: 500ms, healthy: 2, unhealthy: 2 }
      passive: { failures: 2, ejectFor: 1h }
  routes:
    - { name: shop, match: { prefix: / }, upstream: shop }
`,
      ),
    );
    let stop = false;
    const statuses: number[] = [];
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) {
          statuses.push(
            await fetch(`${gw.proxy}/products/p1`).then(
              (r) => r.status,
              () => 0,
            ),
          );
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    b.child.kill('SIGKILL');
    await exited(b.child);
    await new Promise((r) => setTimeout(r, 1_000));
    const healthy = async () =>
      await (
        await fetch(`${gw.admin}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      ).text();
    expect(await healthy()).toContain(
      `truce_gateway_upstream_target_healthy{upstream="shop",target="http://127.0.0.1:${portB}"} 0`,
    );
    b = await startServe(['--config', serverConfig, '--listen', `127.0.0.1:${portB}`]);
    children.push(b.child);
    let back = false;
    for (let i = 0; i < 50 && !back; i++) {
      back = (await healthy()).includes(
        `truce_gateway_upstream_target_healthy{upstream="shop",target="http://127.0.0.1:${portB}"} 1`,
      );
      if (!back) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back).toBe(true);
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(50);
    // GETs are idempotent: the gateway retried every one that hit the dead target on the live one.
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  }, 120_000);

  it('refuses a configuration with an unknown upstream or an unset variable, with exit 2 and the paths', async () => {
    const file = writeConfig(
      'bad.yaml',
      `gateway:
  admin: { key: "\${TRUCE_SURELY_UNSET_VARIABLE}" }
  upstreams: { shop: { targets: [http://127.0.0.1:1] } }
  routes:
    - { name: r, match: { prefix: /x }, upstream: nowhere }
    - { name: s, match: { prefix: /y }, upstream: shop, timeout: 3 }
`,
    );
    for (const command of ['gateway', 'check']) {
      const r = await runCli([command, '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        '/gateway/admin/key: names the environment variable TRUCE_SURELY_UNSET_VARIABLE',
      );
    }
    const fixed = writeConfig(
      'bad2.yaml',
      `gateway:\n  upstreams: { shop: { targets: [http://127.0.0.1:1] } }\n  routes:\n    - { name: r, match: { prefix: /x }, upstream: nowhere }\n`,
    );
    const r = await runCli(['check', '--config', fixed]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/gateway/routes/0/upstream: there is no upstream "nowhere"');
  });
});
