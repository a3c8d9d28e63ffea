// Two `truce gateway` processes on one PostgreSQL database (SPEC 5.3: "PostgreSQL for several
// gateway processes"): what one process changes, the other enforces on its very next request, and
// the call log of both is one log, readable from either admin API.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createServer, resolveConfig } from '@truce/server';
import type { FastifyInstance } from 'fastify';
import { CLI, exited, requireBuild, ROOT, tempDir } from './helpers.js';
import { adminCall, startGateway as start } from './support/gateway.js';
import { describeWithPostgres, dropSchema, newSchemaName } from './support/postgres.js';

const ADMIN_KEY = 'gateway-admin-key-0123456789';

describeWithPostgres('truce gateway on PostgreSQL', (pgUrl) => {
  let dir: ReturnType<typeof tempDir>;
  let truce: FastifyInstance;
  let truceUrl: string;
  const schemas: string[] = [];

  beforeAll(async () => {
    requireBuild();
    dir = tempDir('truce-gateway-pg-');
    truce = await createServer(resolveConfig({ storage: 'sqlite::memory:', collections: { products: {} } }));
    truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await truce.close();
    dir.remove();
    for (const schema of schemas) await dropSchema(pgUrl, schema);
  });

  const children: ChildProcess[] = [];
  const startGateway = (file: string) => start(file, children);
  const admin = (base: string, method: string, path: string, body?: unknown) =>
    adminCall(ADMIN_KEY, base, method, path, body);
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  /** A configuration file for a gateway on a fresh schema of the test database. */
  function config(name: string, extra = ''): string {
    const schema = newSchemaName('gwe2e');
    schemas.push(schema);
    const storage = `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}schema=${schema}`;
    const file = join(dir.path, name);
    writeFileSync(
      file,
      `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "${ADMIN_KEY}" }
  storage: "${storage}"
${extra}  upstreams:
    shop: { targets: [${truceUrl}] }
  routes:
    - { name: shop, match: { prefix: /shop }, stripPrefix: true, upstream: shop, auth: key, subscription: approval }
`,
    );
    return file;
  }

  it('revocation through one process is the very next 403 through the other; one call log read from either', async () => {
    // Started together: the schema is created once, under the advisory lock, while the other waits.
    const file = config('two.yaml');
    const [one, two] = await Promise.all([startGateway(file), startGateway(file)]);
    expect((await admin(one.admin, 'POST', '/consumers', { name: 'bob' })).status).toBe(201);
    expect((await admin(two.admin, 'POST', '/consumers', { name: 'bob' })).status).toBe(409);
    const key = (await admin(two.admin, 'POST', '/consumers/bob/keys')).body['key'] as string;
    const sub = (await admin(one.admin, 'POST', '/subscriptions', { consumer: 'bob', route: 'shop' })).body;
    const asBob = (base: string) =>
      fetch(`${base}/shop/products`, { headers: { authorization: `Bearer ${key}` } });
    let sent = 0;
    const status = async (base: string) => {
      sent++;
      const res = await asBob(base);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    expect((await status(two.proxy)).body).toMatchObject({ subscription: 'pending' });
    await admin(two.admin, 'POST', `/subscriptions/${String(sub['id'])}/approve`);
    expect((await status(one.proxy)).status).toBe(200);
    expect((await status(two.proxy)).status).toBe(200);

    // Revoke through one process, and the very next request through the other, with no pause.
    expect((await admin(two.admin, 'POST', `/subscriptions/${String(sub['id'])}/revoke`)).status).toBe(200);
    const next = await status(one.proxy);
    expect(next.status).toBe(403);
    expect(next.body).toMatchObject({ code: 'subscription-required', subscription: 'revoked' });
    expect((await status(two.proxy)).status).toBe(403);

    // And back, the other way round.
    await admin(one.admin, 'POST', `/subscriptions/${String(sub['id'])}/approve`);
    expect((await status(two.proxy)).status).toBe(200);
    expect((await admin(two.admin, 'POST', `/subscriptions/${String(sub['id'])}/approve`)).status).toBe(409);
    await admin(one.admin, 'POST', `/subscriptions/${String(sub['id'])}/revoke`);
    expect((await status(two.proxy)).body).toMatchObject({ subscription: 'revoked' });

    // Every call of both processes is in the one log, whichever admin API is asked.
    let fromOne: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && fromOne.length < sent; i++) {
      fromOne = (await admin(one.admin, 'GET', '/calls?route=shop&order=asc&limit=100')).body.items!;
      if (fromOne.length < sent) await new Promise((r) => setTimeout(r, 100));
    }
    expect(fromOne).toHaveLength(sent);
    const fromTwo = (await admin(two.admin, 'GET', '/calls?route=shop&order=asc&limit=100')).body.items!;
    expect(fromTwo.map((c) => c['id'])).toEqual(fromOne.map((c) => c['id']));
    expect(new Set(fromOne.map((c) => String(c['id']).split('-')[1])).size).toBe(2);
    const one403 = fromOne.find((c) => c['status'] === 403)!;
    expect((await admin(two.admin, 'GET', `/calls/${String(one403['id'])}`)).body).toMatchObject({
      code: 'subscription-required',
      requestHeaders: { authorization: '[redacted]' },
    });

    // The audit is one log too.
    const audit = (await admin(two.admin, 'GET', '/audit')).body.items!.map((a) => a['action']);
    expect(audit).toEqual([
      'consumer.create',
      'key.create',
      'subscription.request',
      'subscription.approve',
      'subscription.revoke',
      'subscription.approve',
      'subscription.revoke',
    ]);

    for (const gw of [one, two]) gw.child.kill('SIGTERM');
    expect(await Promise.all([exited(one.child), exited(two.child)])).toEqual([0, 0]);
  });

  it('runs several proxy workers on PostgreSQL, the primary writing the call log', async () => {
    const gw = await startGateway(config('workers.yaml', '  workers: 2\n'));
    await admin(gw.admin, 'POST', '/consumers', { name: 'carol' });
    const key = (await admin(gw.admin, 'POST', '/consumers/carol/keys')).body['key'] as string;
    const sub = (await admin(gw.admin, 'POST', '/subscriptions', { consumer: 'carol', route: 'shop' })).body;
    await admin(gw.admin, 'POST', `/subscriptions/${String(sub['id'])}/approve`);
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        fetch(`${gw.proxy}/shop/products`, { headers: { authorization: `Bearer ${key}` } }).then(
          (r) => r.status,
        ),
      ),
    );
    expect(answers.every((s) => s === 200)).toBe(true);
    let items: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && items.length < 40; i++) {
      items = (await admin(gw.admin, 'GET', '/calls?limit=100')).body.items!;
      if (items.length < 40) await new Promise((r) => setTimeout(r, 100));
    }
    expect(items).toHaveLength(40);
    gw.child.kill('SIGTERM');
    expect(await exited(gw.child)).toBe(0);
  });

  it('refuses to start on an unreachable database without showing the password', async () => {
    const file = join(dir.path, 'down.yaml');
    writeFileSync(
      file,
      `gateway:
  listen: 127.0.0.1:0
  storage: "postgres://truce:sup3rsecret@127.0.0.1:1/truce"
  upstreams: { shop: { targets: [${truceUrl}] } }
  routes: [{ name: shop, match: { prefix: /shop }, upstream: shop }]
`,
    );
    const child = spawn(process.execPath, [CLI, 'gateway', '--config', file], { cwd: ROOT, stdio: 'pipe' });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    expect(await exited(child)).toBe(1);
    expect(out).toContain('cannot start the gateway: PostgreSQL at postgres://truce@127.0.0.1:1/truce');
    expect(out).not.toContain('sup3rsecret');
  });
});
