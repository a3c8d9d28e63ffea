import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * Gateway processes started together on one new SQLite file (two `truce gateway` behind a load
 * balancer, or a restart of several at once) race to set up its WAL and schema. Some of those steps
 * fail at once with SQLITE_BUSY instead of waiting; every process must start all the same.
 */

const dir = mkdtempSync(join(tmpdir(), 'truce-gw-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The built module (`npm run build`): each child process opens the storage as `truce gateway` does. */
const dist = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));

/** Opens and closes the storage of `file` in a process of its own; resolves with its exit code and output. */
function openInChild(file: string): Promise<{ code: number | null; out: string }> {
  const script = `
    const { loadGatewayConfig } = await import(${JSON.stringify(dist('config/load.js'))});
    const { openStorage } = await import(${JSON.stringify(dist('storage/open.js'))});
    const storage = await openStorage(loadGatewayConfig(${JSON.stringify(file)}));
    await storage.close();
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('gateway storage on SQLite', () => {
  it('eight processes opening one new file at once all open it', async () => {
    for (let round = 0; round < 3; round++) {
      const file = join(dir, `round-${round}.yaml`);
      writeFileSync(
        file,
        `gateway:
  admin: { key: "0123456789abcdef0123456789abcdef" }
  storage: sqlite:${join(dir, `round-${round}.db`)}
  upstreams: { a: { targets: [http://127.0.0.1:1] } }
  routes:
    - { name: a, match: { prefix: /a }, upstream: a }
`,
      );
      const opened = await Promise.all(Array.from({ length: 8 }, () => openInChild(file)));
      expect(opened.filter((o) => o.code !== 0).map((o) => o.out)).toEqual([]);
    }
  }, 90_000);
});
