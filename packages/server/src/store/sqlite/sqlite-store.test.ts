import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { storeConformanceSuite } from '../conformance.suite.js';
import { type Store, StoreBusyError, type WriteOp } from '../types.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'truce-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
/** A path for a new database file, in a folder that does not exist yet (the store creates it). */
const newPath = () => join(dir, `db-${++files}`, 'truce.db');

storeConformanceSuite('sqlite :memory:', () => openSqliteStore({ path: ':memory:' }));
storeConformanceSuite('sqlite file', () => openSqliteStore({ path: newPath() }));

const op = (id: string, expectVersion: number, doc: WriteOp['doc']): WriteOp => ({
  collection: 'things',
  id,
  expectVersion,
  doc,
  actor: null,
  keepHistory: 100_000,
});

/** Increments `doc.n` of `counter` through `stores` in turn, retrying on mismatches. */
async function increment(stores: readonly Store[], times: number, offset: number) {
  let conflicts = 0;
  for (let done = 0; done < times;) {
    const store = stores[(done + offset) % stores.length] as Store;
    const head = await store.get('things', 'counter');
    await new Promise((resolve) => setTimeout(resolve, Math.random() < 0.5 ? 0 : 1));
    const n = (head?.doc?.['n'] as number) + 1;
    const result = await store.commit([op('counter', head?.version ?? 0, { n })]);
    if (result.ok) done++;
    else conflicts++;
  }
  return conflicts;
}

describe('sqlite store', () => {
  it('reports its capabilities', async () => {
    const memory = openSqliteStore({ path: ':memory:' });
    const file = openSqliteStore({ path: newPath() });
    expect(memory.capabilities).toStrictEqual({ name: 'sqlite', multiProcess: false, ephemeral: true });
    expect(file.capabilities).toStrictEqual({ name: 'sqlite', multiProcess: true, ephemeral: false });
    await memory.close();
    await file.close();
  });

  it('uses WAL, synchronous NORMAL by default and FULL under strict durability', async () => {
    const path = newPath();
    const normal = openSqliteStore({ path });
    expect(normal.pragma('journal_mode')).toBe('wal');
    expect(normal.pragma('synchronous')).toBe(1);
    expect(normal.pragma('busy_timeout')).toBeGreaterThan(0);
    const strict = openSqliteStore({ path, durability: 'strict' });
    expect(strict.pragma('synchronous')).toBe(2);
    await normal.close();
    await strict.close();
  });

  it('keeps heads, history and the change sequence across a reopen', async () => {
    const path = newPath();
    const first = openSqliteStore({ path });
    await first.commit([op('a', 0, { n: 1 }), op('b', 0, { n: 1 })]);
    await first.commit([op('a', 1, { n: 2 }), op('b', 1, null)]);
    const heads = [await first.get('things', 'a'), await first.get('things', 'b')];
    const history = await first.history('things', 'a', { limit: 10 });
    const seq = await first.lastSeq();
    await first.close();
    await expect(first.ping()).rejects.toThrow();

    const second = openSqliteStore({ path });
    expect([await second.get('things', 'a'), await second.get('things', 'b')]).toStrictEqual(heads);
    expect(await second.history('things', 'a', { limit: 10 })).toStrictEqual(history);
    expect(await second.lastSeq()).toBe(seq);
    const result = await second.commit([op('b', 2, { n: 3 })]);
    expect(result.ok && result.heads[0]?.version).toBe(3);
    expect(await second.lastSeq()).toBeGreaterThan(seq);
    const etags = (await second.history('things', 'b', { limit: 10 })).map((v) => v.etag);
    expect(new Set(etags).size).toBe(3);
    await second.close();
  });

  it('refuses a database written by a newer schema', async () => {
    const path = newPath();
    await openSqliteStore({ path }).close();
    const raw = new Database(path);
    raw.pragma('user_version = 999');
    raw.close();
    expect(() => openSqliteStore({ path })).toThrow(/newer/);
  });

  it('two connections to one file keep compare-and-set correct', async () => {
    const path = newPath();
    const stores = [openSqliteStore({ path }), openSqliteStore({ path })];
    await stores[0]?.commit([op('counter', 0, { n: 0 })]);
    const conflicts = await Promise.all(Array.from({ length: 10 }, (_, i) => increment(stores, 20, i)));
    expect(conflicts.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const store of stores) {
      expect((await store.get('things', 'counter'))?.doc).toStrictEqual({ n: 200 });
      expect(await store.history('things', 'counter', { limit: 1000 })).toHaveLength(201);
    }
    await Promise.all(stores.map((store) => store.close()));
  });

  // Child processes run plain Node, so they need the compiled adapter; `npm test` builds first.
  const built = fileURLToPath(new URL('../../../dist/store/sqlite/sqlite-store.js', import.meta.url));
  const fixture = fileURLToPath(new URL('./multi-process.fixture.mjs', import.meta.url));
  if (!existsSync(built))
    console.warn(`Skipping the multi-process test: ${built} is missing (npm run build).`);

  it.skipIf(!existsSync(built))('three processes incrementing one counter lose no update', async () => {
    const path = newPath();
    const store = openSqliteStore({ path });
    await store.commit([op('counter', 0, { n: 0 })]);
    const startAt = String(Date.now() + 500);
    const runs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<{ successes: number; conflicts: number }>((resolve, reject) => {
            const child = spawn(
              process.execPath,
              [fixture, pathToFileURL(built).href, path, '100', startAt],
              {
                stdio: ['ignore', 'pipe', 'pipe'],
              },
            );
            let out = '';
            let err = '';
            child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
            child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
            child.on('error', reject);
            child.on('close', (code) =>
              code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}: ${err}`)),
            );
          }),
      ),
    );
    expect(runs.map((run) => run.successes)).toStrictEqual([100, 100, 100]);
    // Without conflicts the processes did not race, and the test would prove nothing.
    expect(runs.reduce((sum, run) => sum + run.conflicts, 0)).toBeGreaterThan(0);
    const head = await store.get('things', 'counter');
    expect(head?.doc).toStrictEqual({ n: 300 });
    expect(head?.version).toBe(301);
    const history = await store.history('things', 'counter', { limit: 1000 });
    expect(history.map((v) => v.version)).toStrictEqual(Array.from({ length: 301 }, (_, i) => 301 - i));
    expect(new Set(history.map((v) => v.by)).size).toBe(4);
    const changes = await store.changes({ since: 0, limit: 1000, collection: 'things' });
    expect(changes).toHaveLength(301);
    await store.close();
  });
});

describe('a write lock held by another connection', () => {
  it('past the busy timeout is a StoreBusyError, and nothing is written', async () => {
    const path = newPath();
    const store = openSqliteStore({ path, busyTimeoutMs: 100 });
    const other = new Database(path);
    try {
      expect((await store.commit([op('a', 0, { n: 1 })])).ok).toBe(true);
      other.exec('BEGIN IMMEDIATE');
      await expect(store.commit([op('a', 1, { n: 2 })])).rejects.toBeInstanceOf(StoreBusyError);
      other.exec('ROLLBACK');
      expect((await store.get('things', 'a'))?.doc).toStrictEqual({ n: 1 });
    } finally {
      other.close();
      await store.close();
    }
  });
});
