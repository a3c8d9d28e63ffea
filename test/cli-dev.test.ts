import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, exited, requireBuild, ROOT, runCli, tempDir } from './helpers.js';

/** What `truce dev` printed once it runs. */
interface Dev {
  readonly child: ChildProcess;
  readonly server: string;
  readonly proxy: string;
  readonly admin: string;
  readonly adminKey: string;
  readonly demoKey: string;
  readonly output: () => string;
}

function startDev(data: string, extra: string[] = []): Promise<Dev> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'dev',
        '--data',
        data,
        '--server',
        '127.0.0.1:0',
        '--proxy',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        ...extra,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`truce dev did not start:\n${out}`));
    }, 30_000);
    const field = (pattern: RegExp) => pattern.exec(out)?.[1];
    const onData = (d: Buffer) => {
      out += d.toString();
      const demoKey = field(/demo key\s+(\S+)/);
      if (!demoKey) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve({
        child,
        server: field(/resource server\s+(http\S+)/)!,
        proxy: field(/gateway\s+(http\S+)/)!,
        admin: field(/dashboard\s+(http\S+?)\/\s/)!,
        adminKey: field(/admin key\s+(\S+)/)!,
        demoKey,
        output: () => out,
      });
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`truce dev exited with ${code}:\n${out}`));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Polls `probe` until it returns a value, for at most `ms`. */
async function eventually<T>(probe: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function stop(dev: Dev): Promise<number | null> {
  dev.child.kill('SIGINT');
  const timer = setTimeout(() => dev.child.kill('SIGKILL'), 20_000);
  const code = await exited(dev.child);
  clearTimeout(timer);
  return code;
}

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  requireBuild();
  dir = tempDir('truce-dev-');
});
afterAll(() => dir.remove());

describe('truce dev', () => {
  it('runs the server, the gateway and its admin API with a demo key, a keyed route and an open one', async () => {
    const data = join(dir.path, 'plain');
    const dev = await startDev(data);
    try {
      const admin = (path: string) =>
        fetch(`${dev.admin}${path}`, { headers: { authorization: `Bearer ${dev.adminKey}` } });
      // The shop through the gateway: the demo key is approved on the keyed route.
      const created = await fetch(`${dev.proxy}/shop/products`, {
        method: 'POST',
        headers: { 'x-api-key': dev.demoKey, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'lamp', sku: 'LAMP-1', name: 'Lamp', stock: 3 }),
      });
      expect(created.status).toBe(201);
      expect((await fetch(`${dev.proxy}/shop/products/lamp`)).status).toBe(401);
      // The open route needs no key, and the server behind it is the same.
      const viaCatalogue = await fetch(`${dev.proxy}/catalogue/products/lamp`);
      expect(viaCatalogue.status).toBe(200);
      expect(await viaCatalogue.json()).toMatchObject({ sku: 'LAMP-1' });
      expect((await fetch(`${dev.server}/products/lamp`)).status).toBe(200);
      // The guard warns about an unconditional write on the shop route.
      const blind = await fetch(`${dev.proxy}/shop/products/lamp`, {
        method: 'PUT',
        headers: { 'x-api-key': dev.demoKey, 'content-type': 'application/json' },
        body: JSON.stringify({ sku: 'LAMP-1', name: 'Desk lamp', stock: 3 }),
      });
      expect(blind.status).toBe(200);
      expect(blind.headers.get('truce-warning') ?? '').not.toBe('');
      // The admin API has the calls, the alert rule and the demo consumer.
      const calls = await eventually(
        async () => {
          const page = (await (await admin('/calls?route=shop')).json()) as {
            items: { status: number; consumer: unknown }[];
          };
          return page.items.length >= 3 ? page.items : undefined;
        },
        10_000,
        'the shop calls in the log',
      );
      expect(calls.map((c) => c.status).sort()).toEqual([200, 201, 401]);
      expect(calls.filter((c) => c.consumer !== null)).toHaveLength(2);
      const alerts = (await (await admin('/alerts')).json()) as { items: { rule?: string; name?: string }[] };
      expect(JSON.stringify(alerts)).toContain('conflict-storm');
      expect((await admin('/consumers/demo')).status).toBe(200);
      expect((await fetch(`${dev.admin}/consumers`)).status).toBe(401);
      // Everything lives in the data folder.
      expect(existsSync(join(data, 'truce.db'))).toBe(true);
      expect(existsSync(join(data, 'gateway.db'))).toBe(true);
      expect(statSync(join(data, 'dev-secrets.json')).mode & 0o077).toBe(0);
    } finally {
      expect(await stop(dev)).toBe(0);
    }
    expect(dev.output()).toContain('stopped');
    await expect(fetch(`${dev.proxy}/catalogue/products`)).rejects.toThrow();
    await expect(fetch(`${dev.server}/_health`)).rejects.toThrow();

    // A second run on the same folder keeps the data and prints the same keys, which still work.
    const again = await startDev(data);
    try {
      expect(again.demoKey).toBe(dev.demoKey);
      expect(again.adminKey).toBe(dev.adminKey);
      const lamp = await fetch(`${again.proxy}/shop/products/lamp`, {
        headers: { 'x-api-key': again.demoKey },
      });
      expect(lamp.status).toBe(200);
      expect(await lamp.json()).toMatchObject({ name: 'Desk lamp' });
    } finally {
      expect(await stop(again)).toBe(0);
    }
  }, 90_000);

  it('--traffic sends shop clients whose conflicts, unconditional writes and blind retries the analytics show', async () => {
    const dev = await startDev(join(dir.path, 'traffic'), ['--traffic']);
    try {
      const report = async (path: string) =>
        (await (
          await fetch(`${dev.admin}${path}`, { headers: { authorization: `Bearer ${dev.adminKey}` } })
        ).json()) as { items: Record<string, unknown>[] };
      const byConsumer = await eventually(
        async () => {
          const { items } = await report('/analytics/hotspots?by=consumer');
          const keys = items.map((i) => i['key']);
          return keys.includes('mobile-app') && keys.includes('stock-sync') ? items : undefined;
        },
        60_000,
        'conflicts from mobile-app and stock-sync',
      );
      expect(byConsumer.every((i) => (i['conflicts'] as number) > 0)).toBe(true);
      // mobile-app overwrites without a precondition on 70% of its turns, at random: a run whose
      // first conflicts come early may not have logged one yet.
      const unconditional = await eventually(
        async () => {
          const found = await report('/analytics/unconditional');
          const mobile = found.items.find((i) => i['consumer'] === 'mobile-app');
          return mobile && (mobile['unconditional'] as number) > 0 ? found : undefined;
        },
        60_000,
        'an unconditional write by mobile-app',
      );
      const careful = unconditional.items.find((i) => i['consumer'] === 'stock-sync');
      expect(careful?.['unconditional'] ?? 0).toBe(0);
      const retries = await eventually(
        async () => {
          const { items } = await report('/analytics/retries');
          const found = items.find((i) => i['consumer'] === 'mobile-app');
          return found && (found['blind'] as number) > 0 ? found : undefined;
        },
        60_000,
        'a blind retry by mobile-app',
      );
      expect(retries['retries']).toBeGreaterThan(0);
      // The traffic goes on: the conditions above can all hold within its first 20 calls.
      const summary = await eventually(
        async () => {
          const found = (await report('/analytics/summary')) as unknown as { calls: number; errors: number };
          return found.calls > 20 ? found : undefined;
        },
        60_000,
        'more than 20 calls',
      );
      expect(summary.calls).toBeGreaterThan(20);
      expect(summary.errors).toBe(0);
    } finally {
      expect(await stop(dev)).toBe(0);
    }
    expect(dev.output()).not.toMatch(/MaxListenersExceeded|traffic .*: /);
  }, 150_000);

  it('--help explains it and bad flags exit 2', async () => {
    const help = await runCli(['dev', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: truce dev');
    const bad = await runCli(['dev', '--nope']);
    expect(bad.code).toBe(2);
  });
});
