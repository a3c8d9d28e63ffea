import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

interface V2Write {
  collection: string;
  id: string;
  doc: Record<string, unknown> | null;
  at: number;
  keep: number;
}

/** One write the way versions 1 and 2 made it: head, history row and trim, change. */
function writeV2(db: Database.Database, w: V2Write): void {
  const current = db
    .prepare<[string, string], { version: number; deleted: number; created_at: number }>(
      'SELECT version, deleted, created_at FROM heads WHERE collection = ? AND id = ?',
    )
    .get(w.collection, w.id);
  const version = (current?.version ?? 0) + 1;
  const live = current !== undefined && current.deleted === 0;
  const op = w.doc === null ? 'delete' : live ? 'update' : 'create';
  const createdAt = op === 'create' ? w.at : (current?.created_at ?? w.at);
  const etag = `"${version.toString(36)}-v2${w.id}${version}"`;
  const doc = w.doc === null ? null : JSON.stringify(w.doc);
  db.prepare(
    `INSERT INTO heads VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (collection, id) DO UPDATE SET
     version = excluded.version, etag = excluded.etag, deleted = excluded.deleted, doc = excluded.doc,
     created_at = excluded.created_at, updated_at = excluded.updated_at`,
  ).run(w.collection, w.id, version, etag, w.doc === null ? 1 : 0, doc, createdAt, w.at);
  db.prepare('INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)').run(
    w.collection,
    w.id,
    version,
    etag,
    op,
    doc,
    createdAt,
    w.at,
  );
  db.prepare('DELETE FROM history WHERE collection = ? AND id = ? AND version <= ?').run(
    w.collection,
    w.id,
    version - w.keep,
  );
  db.prepare(
    'INSERT INTO changes (collection, id, op, version, etag, doc, at, by) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
  ).run(w.collection, w.id, op, version, etag, doc, w.at);
}

/** A version 2 `history` row as the version record it stands for. */
function toVersion(row: unknown) {
  const h = row as {
    version: number;
    etag: string;
    op: string;
    doc: string | null;
    created_at: number;
    at: number;
  };
  return {
    version: h.version,
    etag: h.etag,
    op: h.op,
    doc: h.doc === null ? null : JSON.parse(h.doc),
    createdAt: h.created_at,
    at: h.at,
    by: null,
  };
}

describe('sqlite schema', () => {
  it('migrates a version 1 database in place, keeping its data', async () => {
    const path = join(dir, 'v1', 'truce.db');
    mkdirSync(dirname(path));
    // A database as version 1 left it, with one resource written the way version 1 wrote.
    const raw = new Database(path);
    raw.pragma('journal_mode = WAL');
    migrate(raw, 1);
    expect(names(raw, 'table')).toStrictEqual(['changes', 'heads', 'history']);
    writeV2(raw, { collection: 'users', id: 'u', doc: { email: 'a@x' }, at: 1000, keep: 10 });
    raw.close();

    const store = openSqliteStore({ path });
    expect(store.pragma('user_version')).toBe(SCHEMA_VERSION);
    expect(await store.get('users', 'u')).toMatchObject({
      version: 1,
      doc: { email: 'a@x' },
      createdAt: 1000,
    });
    expect(await store.history('users', 'u', { limit: 10 })).toMatchObject([{ version: 1, createdAt: 1000 }]);
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
    // Later migrations add tables; what versions 2 and 3 must have left is there, history is gone.
    const tables = names(check, 'table');
    expect(tables).toEqual(
      expect.arrayContaining(['changes', 'heads', 'refs', 'unique_keys', 'idempotency_keys', 'index_state']),
    );
    expect(tables).not.toContain('history');
    expect(names(check, 'index')).toEqual(
      expect.arrayContaining(['changes_by_collection', 'refs_by_target', 'unique_keys_by_resource']),
    );
    check.close();
  });

  it('migrates a version 2 database, keeping every retained version and the change feed', async () => {
    const path = join(dir, 'v2', 'truce.db');
    mkdirSync(dirname(path));
    const raw = new Database(path);
    raw.pragma('journal_mode = WAL');
    migrate(raw, 2);
    // Six versions of `a` (history keeps 3), a deleted and re-created `b`, `a` in another collection.
    for (let n = 1; n <= 6; n++) {
      writeV2(raw, { collection: 'things', id: 'a', doc: { n }, at: 1000 + n, keep: 3 });
      if (n === 2) writeV2(raw, { collection: 'things', id: 'b', doc: { n }, at: 2000, keep: 10 });
      if (n === 3) writeV2(raw, { collection: 'things', id: 'b', doc: null, at: 2001, keep: 10 });
      if (n === 4) writeV2(raw, { collection: 'things', id: 'b', doc: { n }, at: 2002, keep: 10 });
      if (n === 5) writeV2(raw, { collection: 'others', id: 'a', doc: { n }, at: 3000, keep: 10 });
    }
    const v2 = {
      heads: raw.prepare('SELECT * FROM heads ORDER BY collection, id').all(),
      history: raw.prepare('SELECT * FROM history ORDER BY collection, id, version DESC').all(),
      changes: raw.prepare('SELECT * FROM changes ORDER BY seq').all(),
    };
    raw.close();

    const store = openSqliteStore({ path });
    // Every head, every retained version (no more), every change, as version 2 had them.
    for (const head of v2.heads as { collection: string; id: string; version: number; etag: string }[]) {
      expect(await store.get(head.collection, head.id)).toMatchObject({
        version: head.version,
        etag: head.etag,
      });
      const retained = (v2.history as { collection: string; id: string }[]).filter(
        (h) => h.collection === head.collection && h.id === head.id,
      );
      const history = await store.history(head.collection, head.id, { limit: 100 });
      expect(history).toStrictEqual(retained.map(toVersion));
      for (const entry of history) {
        expect(await store.version(head.collection, head.id, entry.version)).toStrictEqual(entry);
        expect(await store.versionByEtag(head.collection, head.id, entry.etag)).toStrictEqual(entry);
      }
    }
    expect((await store.history('things', 'a', { limit: 100 })).map((v) => v.version)).toStrictEqual([
      6, 5, 4,
    ]);
    expect(await store.version('things', 'a', 3)).toBeNull();
    const changes = await store.changes({ since: 0, limit: 100 });
    expect(changes.map((c) => [c.seq, c.id, c.version, c.op])).toStrictEqual(
      (v2.changes as { seq: number; id: string; version: number; op: string }[]).map((c) => [
        c.seq,
        c.id,
        c.version,
        c.op,
      ]),
    );

    // Writes go on from there: the list continues, and retention moves the floor.
    const lastSeq = await store.lastSeq();
    const result = await store.commit([
      { collection: 'things', id: 'a', expectVersion: 6, doc: { n: 7 }, actor: null, keepHistory: 2 },
    ]);
    expect(result.ok).toBe(true);
    expect(await store.lastSeq()).toBe(lastSeq + 1);
    expect((await store.history('things', 'a', { limit: 100 })).map((v) => v.doc)).toStrictEqual([
      { n: 7 },
      { n: 6 },
    ]);
    await store.close();
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

  it('walks a history by primary key, never scanning the change feed', () => {
    const db = new Database(':memory:');
    migrate(db);
    const st = prepareStatements(db);
    const walks = {
      history: [{ collection: 'c', id: 'x', before: 9, limit: 3 }],
      version: [{ collection: 'c', id: 'x', version: 2 }],
      versionByEtag: [{ collection: 'c', id: 'x', etag: '"e"' }],
    } as const;
    for (const [name, params] of Object.entries(walks)) {
      const plan = db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${st[name as keyof typeof walks].source}`)
        .all(...params)
        .map((row) => row.detail);
      // The head by its key, then one change by its seq per step; only the walk itself is scanned.
      expect(plan, name).toContain('SEARCH h USING PRIMARY KEY (collection=? AND id=?)');
      expect(plan, name).toContain('SEARCH c USING INTEGER PRIMARY KEY (rowid=?)');
      expect(
        plan.filter((line) => line.startsWith('SCAN') && line !== 'SCAN chain'),
        name,
      ).toStrictEqual([]);
    }
    db.close();
  });
});
