import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, freePort, requireBuild, runCli, startServe, tempDir } from './helpers.js';

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  requireBuild();
  dir = tempDir();
});
afterAll(() => dir.remove());

describe('the installed command', () => {
  it('is linked by npm install, so `npx truce` works in the workspace', () => {
    // npm links a workspace's bins at install time; the link must point at a committed file that
    // loads the build, not at dist/, which does not exist yet when npm links.
    const r = spawnSync(join('node_modules', '.bin', 'truce'), ['--help'], { encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: truce <command>');
  });
});

describe('truce check', () => {
  it('accepts the shop example', async () => {
    const r = await runCli(['check', '--config', 'examples/shop/truce.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid, \d+ collections/);
  });

  it('lists every problem of an invalid file with its path and exits 2', async () => {
    const file = join(dir.path, 'bad.yaml');
    writeFileSync(
      file,
      `listen: nowhere
collections:
  users:
    staleWriteStatus: 418
    colour: blue
    schema: { type: object, properties: { _secret: { type: string } } }
  _hidden: {}
`,
    );
    const r = await runCli(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/listen');
    expect(r.stderr).toContain('/collections/users/staleWriteStatus');
    expect(r.stderr).toContain('unknown option "colour"');
    expect(r.stderr).toContain('/collections');
  });

  it('reports semantic problems (reserved fields) with their paths', async () => {
    const file = join(dir.path, 'reserved.yaml');
    writeFileSync(
      file,
      'collections:\n  users:\n    schema: { type: object, properties: { _secret: { type: string } } }\n',
    );
    const r = await runCli(['check', '-c', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/collections/users/schema: property "_secret" is reserved');
  });

  it('says so when the file is missing or not YAML', async () => {
    const missing = await runCli(['check', '--config', join(dir.path, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('file not found');
    const file = join(dir.path, 'broken.yaml');
    writeFileSync(file, 'collections: [unclosed\n');
    const broken = await runCli(['check', '--config', file]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('not valid YAML');
  });

  it('bad usage exits 2 with the usage; --help exits 0', async () => {
    expect((await runCli([])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const badFlag = await runCli(['serve', '--bogus']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('Usage: truce serve');
    const help = await runCli(['serve', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--listen');
    expect((await runCli(['check', '--help'])).code).toBe(0);
    expect((await runCli(['--help'])).code).toBe(0);
  });
});

describe('truce serve', () => {
  it('serves the example with --listen and --storage overrides, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const db = join(dir.path, 'serve.db');
    const { child, url, output } = await startServe([
      '--config',
      'examples/shop/truce.yaml',
      '--listen',
      `127.0.0.1:${port}`,
      '--storage',
      `sqlite:${db}`,
    ]);
    try {
      expect(url).toBe(`http://127.0.0.1:${port}`);
      expect(output()).toContain('opening storage');
      const res = await fetch(`${url}/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sku: 'A-1', name: 'Anvil', stock: 3 }),
      });
      expect(res.status).toBe(201);
      expect((await fetch(`${url}/_health`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
  });

  it('under SIGTERM, a client idling mid-body does not hold the process past the drain deadline', async () => {
    const file = join(dir.path, 'drain.yaml');
    // Long request and body timeouts, so that only the drain deadline can end the request.
    writeFileSync(
      file,
      'storage: "sqlite::memory:"\ntimeouts: { request: 10m, bodyIdle: 10m, drain: 1s }\ncollections: { docs: {} }\n',
    );
    const { child, url } = await startServe(['-c', file, '-l', `127.0.0.1:${await freePort()}`]);
    const { port } = new URL(url);
    const client = connect(Number(port), '127.0.0.1');
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => undefined);
    try {
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      client.write(
        'POST /docs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"half":',
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      child.kill('SIGTERM');
      const code = await Promise.race([
        exited(child),
        new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 8000)),
      ]);
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(4000);
      await clientClosed;
    } finally {
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('exits 1 when the port is taken', async () => {
    const port = await freePort();
    const first = await startServe([
      '-c',
      'examples/shop/truce.yaml',
      '-l',
      `127.0.0.1:${port}`,
      '-s',
      'sqlite::memory:',
    ]);
    try {
      const second = await runCli([
        'serve',
        '-c',
        'examples/shop/truce.yaml',
        '-l',
        `127.0.0.1:${port}`,
        '-s',
        'sqlite::memory:',
      ]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('cannot listen');
    } finally {
      first.child.kill('SIGTERM');
      await exited(first.child);
    }
  });

  it('exits 1 when PostgreSQL does not answer, without printing the password', async () => {
    const port = await freePort();
    const r = await runCli([
      'serve',
      '-c',
      'examples/shop/truce.yaml',
      '-l',
      `127.0.0.1:${await freePort()}`,
      '-s',
      `postgres://truce:hunter2@127.0.0.1:${port}/shop`,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot open storage postgres://truce:***@127.0.0.1:${port}/shop`);
    expect(r.stderr + r.stdout).not.toContain('hunter2');
  });

  it('exits 2 on a bad --listen', async () => {
    const r = await runCli(['serve', '-c', 'examples/shop/truce.yaml', '-l', 'localhost:99999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/listen');
  });
});
