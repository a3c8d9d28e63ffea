import type Database from 'better-sqlite3';
import type { IndexEntries, JsonObject, Reference, ReindexResult } from '../types.js';

const MAX_LISTED = 20;

/**
 * Recomputing a collection's unique keys and references from its live documents, for when the
 * configuration adds or changes constraints: documents written before a constraint existed hold
 * no keys, so without this the new constraint would not see them. Everything happens in one
 * IMMEDIATE transaction; if the existing data breaks the new constraints, nothing changes and the
 * offending resources are listed.
 */
/** The SQLite side of Store.indexFingerprint and Store.reindex. */
export interface SqliteReindex {
  fingerprint(collection: string): string | null;
  reindex(
    collection: string,
    fingerprint: string,
    compute: (id: string, doc: JsonObject) => IndexEntries,
  ): ReindexResult;
}

export function createReindex(db: Database.Database): SqliteReindex {
  const fingerprintOf = db.prepare<[string], { fingerprint: string }>(
    'SELECT fingerprint FROM index_state WHERE collection = ?',
  );
  const liveDocs = db.prepare<[string], { id: string; doc: string }>(
    'SELECT id, doc FROM heads WHERE collection = ? AND deleted = 0 ORDER BY id',
  );
  const isLive = db.prepare<[string, string], { one: number }>(
    'SELECT 1 AS one FROM heads WHERE collection = ? AND id = ? AND deleted = 0',
  );
  const clearKeys = db.prepare<[string], void>('DELETE FROM unique_keys WHERE collection = ?');
  const clearRefs = db.prepare<[string], void>('DELETE FROM refs WHERE from_collection = ?');
  const insertKey = db.prepare<[string, string, string, string], void>(
    'INSERT INTO unique_keys (collection, "constraint", "key", id) VALUES (?, ?, ?, ?)',
  );
  const insertRef = db.prepare<[string, string, string, string, string], void>(
    'INSERT INTO refs (from_collection, from_id, pointer, to_collection, to_id) VALUES (?, ?, ?, ?, ?)',
  );
  const saveFingerprint = db.prepare<[string, string], void>(
    `INSERT INTO index_state (collection, fingerprint) VALUES (?, ?)
     ON CONFLICT (collection) DO UPDATE SET fingerprint = excluded.fingerprint`,
  );

  const run = db.transaction(
    (
      collection: string,
      fingerprint: string,
      compute: (id: string, doc: JsonObject) => IndexEntries,
    ): ReindexResult => {
      // Another process may have done the work while this one waited for the write lock.
      if (fingerprintOf.get(collection)?.fingerprint === fingerprint) return { ok: true, resources: 0 };
      const holders = new Map<string, { constraint: string; key: string; ids: string[] }>();
      const dangling: { id: string; reference: Reference }[] = [];
      const entries: { id: string; entries: IndexEntries }[] = [];
      for (const row of liveDocs.iterate(collection)) {
        const computed = compute(row.id, JSON.parse(row.doc) as JsonObject);
        entries.push({ id: row.id, entries: computed });
        for (const k of computed.uniqueKeys) {
          const at = `${k.constraint}\u0000${k.key}`;
          const holder = holders.get(at);
          if (holder) holder.ids.push(row.id);
          else holders.set(at, { constraint: k.constraint, key: k.key, ids: [row.id] });
        }
        for (const reference of computed.references) {
          const self = reference.collection === collection && reference.id === row.id;
          if (!self && !isLive.get(reference.collection, reference.id))
            dangling.push({ id: row.id, reference });
        }
      }
      const collisions = [...holders.values()].filter((h) => h.ids.length > 1);
      if (collisions.length > 0 || dangling.length > 0) {
        return {
          ok: false,
          collisions: collisions.slice(0, MAX_LISTED),
          dangling: dangling.slice(0, MAX_LISTED),
        };
      }
      clearKeys.run(collection);
      clearRefs.run(collection);
      for (const { id, entries: e } of entries) {
        for (const k of e.uniqueKeys) insertKey.run(collection, k.constraint, k.key, id);
        for (const r of e.references) insertRef.run(collection, id, r.pointer, r.collection, r.id);
      }
      saveFingerprint.run(collection, fingerprint);
      return { ok: true, resources: entries.length };
    },
  );

  return {
    fingerprint: (collection: string): string | null => fingerprintOf.get(collection)?.fingerprint ?? null,
    reindex: (
      collection: string,
      fingerprint: string,
      compute: (id: string, doc: JsonObject) => IndexEntries,
    ) => run.immediate(collection, fingerprint, compute),
  };
}
