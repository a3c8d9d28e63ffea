import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { WriteOp } from '../types.js';
import { openSqliteStore } from './sqlite-store.js';

// The SQLite side of group commit (group-commit.ts): what the conformance suite cannot see from
// outside a store, because it reads through the connection that wrote.

const dir = mkdtempSync(join(tmpdir(), 'truce-group-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newPath = () => join(dir, `db-${++files}`, 'truce.db');

const op = (id: string, expectVersion: number | null, doc: WriteOp['doc']): WriteOp => ({
  collection: 'things',
  id,
  expectVersion,
  doc,
  actor: null,
  keepHistory: 100,
});

describe('sqlite group commit', () => {
  it('the calls of one turn commit in one transaction and settle only after its COMMIT', async () => {
    const path = newPath();
    const store = openSqliteStore({ path });
    await store.commit([op('seed', 0, { n: 0 })]);
    // Another connection sees only what is committed.
    const outside = new Database(path, { readonly: true });
    const committed = () =>
      outside
        .prepare<[], { id: string }>('SELECT id FROM heads ORDER BY id')
        .all()
        .map((row) => row.id);

    const ids = Array.from({ length: 20 }, (_, i) => `r${String(i).padStart(2, '0')}`);
    const seenAtSettle: string[][] = [];
    const settle = <T>(promise: Promise<T>) =>
      promise.then((value) => {
        seenAtSettle.push(committed());
        return value;
      });
    const calls = ids.map((id) => settle(store.commit([op(id, 0, { id })])));
    const refused = settle(store.commit([op('seed', 5, { n: 'stale' })]));
    // Nothing is written while the calls are only queued.
    expect(committed()).toStrictEqual(['seed']);

    const results = await Promise.all(calls);
    expect(results.every((result) => result.ok)).toBe(true);
    expect(await refused).toMatchObject({ ok: false, reason: 'version-mismatch', current: { version: 1 } });
    // Every call, the refused one too, settled when the whole group could be read from outside.
    expect(seenAtSettle).toHaveLength(ids.length + 1);
    for (const seen of seenAtSettle) expect(seen).toStrictEqual([...ids, 'seed']);
    outside.close();
    await store.close();
  });

  it('keyed commits of one turn share the transaction of the plain ones, in call order', async () => {
    const path = newPath();
    const store = openSqliteStore({ path });
    await store.commit([op('counter', 0, { n: 0 })]);
    const outside = new Database(path, { readonly: true });
    const seen = () => ({
      n: JSON.parse(
        outside.prepare<[], { doc: string }>("SELECT doc FROM heads WHERE id = 'counter'").get()!.doc,
      ).n as number,
      keys: outside.prepare<[], { c: number }>('SELECT count(*) AS c FROM idempotency_keys').get()!.c,
    });
    const keyed = (key: string) =>
      store.commitIdempotent({
        claim: { scope: 's', key, fingerprint: 'f', now: 1, leaseMs: 30_000, expiresAt: 86_400_000 },
        ops: [{ ...op('counter', null, null), increment: { pointer: '/n', by: 1, maximum: 20 } }],
        answer: (result) => ({ status: result.ok ? 200 : 409, headers: {}, body: null }),
      });
    const atSettle: unknown[] = [];
    const settle = <T>(promise: Promise<T>) =>
      promise.then((value) => {
        atSettle.push(seen());
        return value;
      });
    // 20 keyed increments up to a maximum of 20, a plain write, a refused one, and one that no longer fits.
    const calls = [
      ...Array.from({ length: 20 }, (_, i) => settle(keyed(`k${i}`))),
      settle(store.commit([op('other', 0, { plain: true })])),
      settle(keyed('k-over')),
    ];
    expect(seen()).toStrictEqual({ n: 0, keys: 0 });
    const results = await Promise.all(calls);
    expect(results.slice(0, 20).every((r) => 'state' in r && r.state === 'claimed' && r.result.ok)).toBe(
      true,
    );
    expect(results[20]).toMatchObject({ ok: true });
    expect(results[21]).toMatchObject({ state: 'claimed', result: { ok: false, reason: 'out-of-bounds' } });
    // One COMMIT for all of them: every call settled when all of it could be read from outside.
    expect(atSettle).toStrictEqual(Array.from({ length: 22 }, () => ({ n: 20, keys: 21 })));
    const history = await store.history('things', 'counter', { limit: 100 });
    expect(history.map((v) => v.doc?.['n'])).toStrictEqual(Array.from({ length: 21 }, (_, i) => 20 - i));
    outside.close();
    await store.close();
  });

  it('calls made together run in call order, each seeing what the earlier ones wrote', async () => {
    const store = openSqliteStore({ path: newPath() });
    const [created, updated, late, deleted] = await Promise.all([
      store.commit([op('x', 0, { step: 1 })]),
      store.commit([op('x', 1, { step: 2 })]),
      store.commit([op('x', 1, { step: 'late' })]),
      store.commit([op('x', 2, null)]),
    ]);
    expect(created).toMatchObject({ ok: true, heads: [{ version: 1 }] });
    expect(updated).toMatchObject({ ok: true, heads: [{ version: 2, doc: { step: 2 } }] });
    expect(late).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'version-mismatch',
      current: updated.ok ? updated.heads[0] : null,
    });
    expect(deleted).toMatchObject({ ok: true, heads: [{ version: 3, deleted: true }] });
    const changes = await store.changes({ since: 0, limit: 10 });
    expect(changes.map((c) => [c.version, c.op])).toStrictEqual([
      [1, 'create'],
      [2, 'update'],
      [3, 'delete'],
    ]);
    await store.close();
  });

  // A COMMIT that fails for real: the child process runs under a file size limit, and the COMMIT
  // that appends a large document to the WAL gets EFBIG. Child processes run plain Node, so they
  // need the compiled adapter; `npm test` builds first.
  const built = fileURLToPath(new URL('../../../dist/store/sqlite/sqlite-store.js', import.meta.url));
  const fixture = fileURLToPath(new URL('./commit-failure.fixture.mjs', import.meta.url));
  const canLimit = process.platform === 'linux' && existsSync('/bin/bash');

  it.skipIf(!existsSync(built) || !canLimit)(
    'a COMMIT that fails rejects every call of its group, refused ones too; the next group commits',
    async () => {
      const path = newPath();
      const out = await new Promise<string>((resolve, reject) => {
        // 256 KiB (bash counts -f in KiB): room for the small writes, not for the 400 kB document.
        const args = ['-c', 'ulimit -f 256 && exec "$0" "$@"', process.execPath, fixture];
        const child = spawn('/bin/bash', [...args, pathToFileURL(built).href, path], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(stdout) : reject(new Error(`child exited ${code}: ${stderr}`)),
        );
      });
      const report = JSON.parse(out) as { group: { error?: string }[]; later: unknown };
      // The plain write, the would-be refusal and the big write: none is acknowledged.
      expect(report.group.map((call) => call.error !== undefined)).toStrictEqual([true, true, true]);
      expect(report.later).toStrictEqual({ ok: true });

      const store = openSqliteStore({ path });
      expect(await store.get('things', 'a')).toBeNull();
      expect(await store.get('things', 'big')).toBeNull();
      expect((await store.get('things', 'base'))?.version).toBe(1);
      const changes = await store.changes({ since: 0, limit: 10 });
      expect(changes.map((c) => c.id)).toStrictEqual(['base', 'later']);
      await store.close();
    },
    30_000,
  );
});
