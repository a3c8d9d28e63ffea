import type Database from 'better-sqlite3';
import type { ChangeRecord, Head, JsonObject, VersionRecord } from '../types.js';

/** A `heads` row as better-sqlite3 returns it. */
export interface HeadRow {
  collection: string;
  id: string;
  version: number;
  etag: string;
  deleted: 0 | 1;
  doc: string | null;
  created_at: number;
  updated_at: number;
  updated_by: string | null;
}

/** A `history` row as better-sqlite3 returns it (without the key columns it was looked up by). */
export interface HistoryRow {
  version: number;
  etag: string;
  op: VersionRecord['op'];
  doc: string | null;
  created_at: number;
  at: number;
  by: string | null;
}

/** A `changes` row as better-sqlite3 returns it. */
export interface ChangeRow {
  seq: number;
  collection: string;
  id: string;
  op: ChangeRecord['op'];
  version: number;
  etag: string;
  doc: string | null;
  at: number;
  by: string | null;
}

/** Parameters of an upsert into `heads` (named, because positional lists of nine are easy to misorder). */
export interface HeadParams {
  collection: string;
  id: string;
  version: number;
  etag: string;
  deleted: 0 | 1;
  doc: string | null;
  createdAt: number;
  at: number;
  by: string | null;
}

/** Parameters of the `history` and `changes` inserts. */
export interface EntryParams {
  collection: string;
  id: string;
  version: number;
  etag: string;
  op: VersionRecord['op'];
  doc: string | null;
  createdAt: number;
  at: number;
  by: string | null;
}

/** A `refs` row of one resource, as {@link Statements.refsFrom} returns it. */
export interface RefRow {
  pointer: string;
  to_collection: string;
  to_id: string;
}

/** The `heads` columns, in {@link HeadRow} order. */
export const HEAD_COLUMNS = 'collection, id, version, etag, deleted, doc, created_at, updated_at, updated_by';
const HISTORY_COLUMNS = 'version, etag, op, doc, created_at, at, by';
const CHANGE_COLUMNS = 'seq, collection, id, op, version, etag, doc, at, by';

/**
 * Every fixed statement of the adapter, prepared once per connection: preparing parses and plans
 * the SQL, which would otherwise dominate the cost of a small commit.
 */
export function prepareStatements(db: Database.Database): Statements {
  return {
    getHead: db.prepare<[string, string], HeadRow>(
      `SELECT ${HEAD_COLUMNS} FROM heads WHERE collection = ? AND id = ?`,
    ),
    upsertHead: db.prepare<[HeadParams], void>(
      `INSERT INTO heads (${HEAD_COLUMNS})
       VALUES (@collection, @id, @version, @etag, @deleted, @doc, @createdAt, @at, @by)
       ON CONFLICT (collection, id) DO UPDATE SET
         version = excluded.version, etag = excluded.etag, deleted = excluded.deleted, doc = excluded.doc,
         created_at = excluded.created_at, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    ),
    insertHistory: db.prepare<[EntryParams], void>(
      `INSERT INTO history (collection, id, ${HISTORY_COLUMNS})
       VALUES (@collection, @id, @version, @etag, @op, @doc, @createdAt, @at, @by)`,
    ),
    // Versions are contiguous, so the newest N are exactly those above (newest - N).
    trimHistory: db.prepare<[string, string, number], void>(
      'DELETE FROM history WHERE collection = ? AND id = ? AND version <= ?',
    ),
    insertChange: db.prepare<[EntryParams], void>(
      `INSERT INTO changes (collection, id, op, version, etag, doc, at, by)
       VALUES (@collection, @id, @op, @version, @etag, @doc, @at, @by)`,
    ),
    // Only the flag: a reference check needs no document.
    deletedFlag: db.prepare<[string, string], { deleted: 0 | 1 }>(
      'SELECT deleted FROM heads WHERE collection = ? AND id = ?',
    ),

    // Unique keys. Covered by unique_keys_by_resource, which carries the primary key columns.
    uniqueKeysOf: db.prepare<[string, string], { constraint: string; key: string }>(
      'SELECT "constraint", "key" FROM unique_keys WHERE collection = ? AND id = ?',
    ),
    // The primary key decides: no row is read first, so two writers of one key cannot both insert.
    insertUniqueKey: db.prepare<[string, string, string, string], void>(
      'INSERT INTO unique_keys (collection, "constraint", "key", id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    uniqueKeyHolder: db.prepare<[string, string, string], { id: string }>(
      'SELECT id FROM unique_keys WHERE collection = ? AND "constraint" = ? AND "key" = ?',
    ),
    deleteUniqueKey: db.prepare<[string, string, string, string], void>(
      'DELETE FROM unique_keys WHERE collection = ? AND "constraint" = ? AND "key" = ? AND id = ?',
    ),
    releaseUniqueKeys: db.prepare<[string, string], void>(
      'DELETE FROM unique_keys WHERE collection = ? AND id = ?',
    ),

    // References.
    refsFrom: db.prepare<[string, string], RefRow>(
      'SELECT pointer, to_collection, to_id FROM refs WHERE from_collection = ? AND from_id = ?',
    ),
    upsertRef: db.prepare<[string, string, string, string, string], void>(
      `INSERT INTO refs (from_collection, from_id, pointer, to_collection, to_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (from_collection, from_id, pointer) DO UPDATE SET
         to_collection = excluded.to_collection, to_id = excluded.to_id`,
    ),
    deleteRef: db.prepare<[string, string, string], void>(
      'DELETE FROM refs WHERE from_collection = ? AND from_id = ? AND pointer = ?',
    ),
    deleteRefsFrom: db.prepare<[string, string], void>(
      'DELETE FROM refs WHERE from_collection = ? AND from_id = ?',
    ),
    // A resource's references to itself do not keep it alive. DISTINCT: a referrer with two
    // fields pointing here is one referrer. Runs on every delete: one probe of refs_by_target.
    referrers: db.prepare<[string, string], { collection: string; count: number }>(
      `SELECT from_collection AS collection, count(DISTINCT from_id) AS count FROM refs
       WHERE to_collection = ? AND to_id = ? AND NOT (from_collection = to_collection AND from_id = to_id)
       GROUP BY from_collection ORDER BY from_collection`,
    ),
    referrerExamples: db.prepare<[string, string, string, number], { id: string }>(
      `SELECT DISTINCT from_id AS id FROM refs
       WHERE to_collection = ? AND to_id = ? AND from_collection = ?
         AND NOT (from_collection = to_collection AND from_id = to_id)
       ORDER BY from_id LIMIT ?`,
    ),

    history: db.prepare<[string, string, number, number], HistoryRow>(
      `SELECT ${HISTORY_COLUMNS} FROM history
       WHERE collection = ? AND id = ? AND version < ? ORDER BY version DESC LIMIT ?`,
    ),
    version: db.prepare<[string, string, number], HistoryRow>(
      `SELECT ${HISTORY_COLUMNS} FROM history WHERE collection = ? AND id = ? AND version = ?`,
    ),
    // No index on etag: the primary key prefix narrows the scan to one resource's retained history.
    versionByEtag: db.prepare<[string, string, string], HistoryRow>(
      `SELECT ${HISTORY_COLUMNS} FROM history WHERE collection = ? AND id = ? AND etag = ?`,
    ),
    changes: db.prepare<[number, number], ChangeRow>(
      `SELECT ${CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`,
    ),
    changesOf: db.prepare<[string, number, number], ChangeRow>(
      `SELECT ${CHANGE_COLUMNS} FROM changes WHERE collection = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),
    // The AUTOINCREMENT high-water mark, which stays right even if old change rows are pruned.
    lastSeq: db.prepare<[], { seq: number }>(
      "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) AS seq",
    ),
    ping: db.prepare<[], { ok: number }>('SELECT 1 AS ok'),
  };
}

type Stmt<P extends unknown[], R> = Database.Statement<P, R>;

/** The prepared statements of one connection (spelled out so declarations can name them). */
export interface Statements {
  readonly getHead: Stmt<[string, string], HeadRow>;
  readonly upsertHead: Stmt<[HeadParams], void>;
  readonly insertHistory: Stmt<[EntryParams], void>;
  readonly trimHistory: Stmt<[string, string, number], void>;
  readonly insertChange: Stmt<[EntryParams], void>;
  readonly deletedFlag: Stmt<[string, string], { deleted: 0 | 1 }>;
  readonly uniqueKeysOf: Stmt<[string, string], { constraint: string; key: string }>;
  readonly insertUniqueKey: Stmt<[string, string, string, string], void>;
  readonly uniqueKeyHolder: Stmt<[string, string, string], { id: string }>;
  readonly deleteUniqueKey: Stmt<[string, string, string, string], void>;
  readonly releaseUniqueKeys: Stmt<[string, string], void>;
  readonly refsFrom: Stmt<[string, string], RefRow>;
  readonly upsertRef: Stmt<[string, string, string, string, string], void>;
  readonly deleteRef: Stmt<[string, string, string], void>;
  readonly deleteRefsFrom: Stmt<[string, string], void>;
  readonly referrers: Stmt<[string, string], { collection: string; count: number }>;
  readonly referrerExamples: Stmt<[string, string, string, number], { id: string }>;
  readonly history: Stmt<[string, string, number, number], HistoryRow>;
  readonly version: Stmt<[string, string, number], HistoryRow>;
  readonly versionByEtag: Stmt<[string, string, string], HistoryRow>;
  readonly changes: Stmt<[number, number], ChangeRow>;
  readonly changesOf: Stmt<[string, number, number], ChangeRow>;
  readonly lastSeq: Stmt<[], { seq: number }>;
  readonly ping: Stmt<[], { ok: number }>;
}

function parseDoc(text: string | null): JsonObject | null {
  return text === null ? null : (JSON.parse(text) as JsonObject);
}

/** Maps a `heads` row to the interface type; each call parses a fresh copy of the document. */
export function toHead(row: HeadRow): Head {
  return {
    collection: row.collection,
    id: row.id,
    version: row.version,
    etag: row.etag,
    deleted: row.deleted === 1,
    doc: parseDoc(row.doc),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
  };
}

/** Maps a `history` row to the interface type. */
export function toVersionRecord(row: HistoryRow): VersionRecord {
  return {
    version: row.version,
    etag: row.etag,
    op: row.op,
    doc: parseDoc(row.doc),
    createdAt: row.created_at,
    at: row.at,
    by: row.by,
  };
}

/** Maps a `changes` row to the interface type. */
export function toChangeRecord(row: ChangeRow): ChangeRecord {
  return {
    seq: row.seq,
    collection: row.collection,
    id: row.id,
    op: row.op,
    version: row.version,
    etag: row.etag,
    doc: parseDoc(row.doc),
    at: row.at,
    by: row.by,
  };
}
