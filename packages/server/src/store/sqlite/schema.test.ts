import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, migrate } from './schema.js';
import { openSqliteStore } from './sqlite-store.js';
import { prepareStatements } from './statements.js';

const dir = mkdtempSync(join(tmpdir(), 'truce-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const names = (db: Database.Database, type: 'table' | 'index') =>
  db
    .prepare<[string], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
    )
    .all(type)
    .map((row) => row.name)
    .sort();

describe('sqlite schema', () => {
  it('migrates a version 1 database in place, keeping its data', async () => {
    const path = join(dir, 'v1', 'truce.db');
    const first = openSqliteStore({ path });
    await first.commit([
      { collection: 'users', id: 'u', expectVersion: 0, doc: { email: 'a@x' }, actor: null, keepHistory: 10 },
    ]);
    const head = await first.get('users', 'u');
    await first.close();
    // What version 1 left on disk: the same file without the tables version 2 added.
    const raw = new Database(path);
    raw.exec('DROP TABLE unique_keys; DROP TABLE refs;');
    raw.pragma('user_version = 1');
    expect(names(raw, 'table')).toStrictEqual(['changes', 'heads', 'history']);
    raw.close();

    const store = openSqliteStore({ path });
    expect(store.pragma('user_version')).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(2);
    expect(await store.get('users', 'u')).toStrictEqual(head);
    const key = { constraint: 'email', key: 'a@x' };
    const base = { collection: 'users', expectVersion: 0, actor: null, keepHistory: 10 } as const;
    expect(await store.commit([{ ...base, id: 'v', doc: {}, uniqueKeys: [key] }])).toMatchObject({
      ok: true,
    });
    expect(await store.commit([{ ...base, id: 'w', doc: {}, uniqueKeys: [key] }])).toMatchObject({
      reason: 'unique-violation',
      holder: 'v',
    });
    await store.close();

    const check = new Database(path, { readonly: true });
    expect(names(check, 'table')).toStrictEqual(['changes', 'heads', 'history', 'refs', 'unique_keys']);
    expect(names(check, 'index')).toStrictEqual([
      'changes_by_collection',
      'refs_by_target',
      'unique_keys_by_resource',
    ]);
    check.close();
  });

  it('finds unique keys and references through an index, never by scanning', () => {
    const db = new Database(':memory:');
    migrate(db);
    const st = prepareStatements(db);
    const statements = {
      uniqueKeysOf: st.uniqueKeysOf,
      uniqueKeyHolder: st.uniqueKeyHolder,
      deleteUniqueKey: st.deleteUniqueKey,
      releaseUniqueKeys: st.releaseUniqueKeys,
      refsFrom: st.refsFrom,
      deleteRef: st.deleteRef,
      deleteRefsFrom: st.deleteRefsFrom,
      referrers: st.referrers,
      referrerExamples: st.referrerExamples,
      deletedFlag: st.deletedFlag,
    };
    for (const [name, statement] of Object.entries(statements)) {
      const params = Array.from(statement.source.matchAll(/\?/g), () => 'x');
      const plan = db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${statement.source}`)
        .all(...params)
        .map((row) => row.detail);
      // One SEARCH by a key prefix; no SCAN, and no temporary B-tree for GROUP BY, ORDER BY or DISTINCT.
      expect(plan, name).toHaveLength(1);
      expect(plan[0], name).toMatch(/^SEARCH /);
    }
    db.close();
  });
});
