import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteChanges } from './sqlite-changes.js';
import { SqliteGatewayStore } from './sqlite.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'truce-gw-changes-'));
  dirs.push(dir);
  return join(dir, 'gateway.db');
}
const NOW = Date.UTC(2026, 0, 1);

/** A commit from another process, through its own better-sqlite3 connection. */
function commitFromAnotherProcess(path: string, sql: string): void {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  execFileSync(process.execPath, [
    '-e',
    `const D = require(${JSON.stringify(driver)}); const db = new D(${JSON.stringify(path)}); db.pragma('busy_timeout = 5000'); db.exec(${JSON.stringify(sql)}); db.close();`,
  ]);
}

describe('SqliteChanges', () => {
  it('sees commits from another connection and from another process, and nothing else', () => {
    const path = dbPath();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x INTEGER)');
    const changes = new SqliteChanges(db, path);
    expect(changes.changed()).toBe(true);
    expect(changes.changed()).toBe(false);
    db.prepare('SELECT count(*) FROM t').get();
    expect(changes.changed()).toBe(false);

    const other = new Database(path);
    other.prepare('INSERT INTO t VALUES (1)').run();
    expect(changes.changed()).toBe(true);
    expect(changes.changed()).toBe(false);

    commitFromAnotherProcess(path, 'INSERT INTO t VALUES (2)');
    expect(changes.changed()).toBe(true);
    expect(changes.changed()).toBe(false);

    db.prepare('INSERT INTO t VALUES (3)').run();
    expect(changes.changed()).toBe(true);
    changes.close();
    other.close();
    db.close();
  });

  it('falls back to PRAGMA data_version for an in-memory database', () => {
    const db = new Database(':memory:');
    const changes = new SqliteChanges(db, ':memory:');
    expect(changes.changed()).toBe(true);
    expect(changes.changed()).toBe(false);
    changes.close();
    db.close();
  });
});

describe('SqliteGatewayStore key cache', () => {
  async function approvedKey(store: SqliteGatewayStore) {
    const c = (await store.createConsumer('cara', NOW)) as { id: string };
    await store.addKey(c.id, 'hash-c', 'truce_c', NOW);
    const sub = (await store.subscribe(c.id, 'shop', 'approved', NOW)) as { id: string };
    return { consumerId: c.id, subscriptionId: sub.id };
  }

  it('answers repeated lookups without reading the database while nothing was committed', async () => {
    const store = new SqliteGatewayStore(dbPath());
    await approvedKey(store);
    // The first lookup also records lastUsedAt, a commit of its own: the second reads again.
    await store.lookupKey('hash-c', 'shop', NOW);
    await store.lookupKey('hash-c', 'shop', NOW);
    const reads = vi.spyOn((store as unknown as { lookup: Database.Statement }).lookup, 'get');
    for (let i = 0; i < 5; i++)
      expect((await store.lookupKey('hash-c', 'shop', NOW))?.subscription).toBe('approved');
    expect(reads).not.toHaveBeenCalled();
    await store.close();
  });

  it('sees a revocation committed by another process on the very next lookup', async () => {
    const path = dbPath();
    const store = new SqliteGatewayStore(path);
    const { subscriptionId } = await approvedKey(store);
    expect((await store.lookupKey('hash-c', 'shop', NOW))?.subscription).toBe('approved');
    commitFromAnotherProcess(
      path,
      `UPDATE subscriptions SET status = 'revoked' WHERE id = '${subscriptionId}'`,
    );
    expect((await store.lookupKey('hash-c', 'shop', NOW))?.subscription).toBe('revoked');
    commitFromAnotherProcess(path, `DELETE FROM api_keys`);
    expect(await store.lookupKey('hash-c', 'shop', NOW)).toBeUndefined();
    await store.close();
  });

  it('sees its own changes at once, in memory too', async () => {
    const store = new SqliteGatewayStore(':memory:');
    const { consumerId, subscriptionId } = await approvedKey(store);
    expect((await store.lookupKey('hash-c', 'shop', NOW))?.subscription).toBe('approved');
    await store.transitionSubscription(subscriptionId, 'revoke', NOW);
    expect((await store.lookupKey('hash-c', 'shop', NOW))?.subscription).toBe('revoked');
    await store.deleteConsumer(consumerId, NOW);
    expect(await store.lookupKey('hash-c', 'shop', NOW)).toBeUndefined();
    await store.close();
  });
});
