import type Database from 'better-sqlite3';
import { CHANGE_COLUMNS, type ChangeRow, HEAD_COLUMNS, type HeadRow, type HistoryRow } from '../records.js';
import type { VersionRecord } from '../types.js';

export {
  CHANGE_COLUMNS,
  type ChangeRow,
  HEAD_COLUMNS,
  type HeadRow,
  type HistoryRow,
  toChangeRecord,
  toHead,
  toVersionRecord,
} from '../records.js';

/** A `heads` row with the start and floor of the resource's history, which only a write needs. */
export interface WriteHeadRow extends HeadRow {
  last_seq: number | null;
  history_from: number;
}

/** The resource whose history a statement walks. */
export interface HistoryParams {
  collection: string;
  id: string;
}

/*
 * The statements every write runs take positional parameters: binding named ones from an object
 * costs about a microsecond more per statement, on the hottest path there is. The labelled tuples
 * below keep the order readable, and commit.ts is their only caller.
 */

/** Parameters of the upsert into `heads`, in column order. */
export type HeadArgs = [
  collection: string,
  id: string,
  version: number,
  etag: string,
  deleted: 0 | 1,
  doc: string | null,
  createdAt: number,
  at: number,
  by: string | null,
  /** The seq of the change this write appended. */
  lastSeq: number | bigint,
  /** The oldest version history keeps after this write; never lowers the floor already there. */
  historyFrom: number,
];

/** Parameters of the `changes` insert (seq is assigned by SQLite), in column order. */
export type ChangeArgs = [
  collection: string,
  id: string,
  op: VersionRecord['op'],
  version: number,
  etag: string,
  doc: string | null,
  at: number,
  by: string | null,
  createdAt: number,
  /** The seq of the resource's previous version (`heads.last_seq`), or null for its first. */
  prevSeq: number | null,
];

/** A `refs` row of one resource, as {@link Statements.refsFrom} returns it. */
export interface RefRow {
  pointer: string;
  to_collection: string;
  to_id: string;
}

/**
 * The retained history of one resource, newest first, as `SELECT ... FROM chain CROSS JOIN changes AS c`
 * with `WHERE c.version >= chain.low`: a walk down its list of changes (schema.ts, version 3) from
 * the head, one primary key lookup per version, that goes no lower than `low`. `low` is computed
 * from `heads` (h) and the statement's parameters; it is at least the history floor. Versions are
 * contiguous along the list, so the walk stops exactly there. CROSS JOIN keeps SQLite from
 * turning the join around into a scan of the whole feed for a condition on `c`.
 */
const walk = (low: string) => `
  WITH RECURSIVE chain(seq, low) AS (
    SELECT h.last_seq, ${low} FROM heads AS h WHERE h.collection = @collection AND h.id = @id
    UNION ALL
    SELECT c.prev_seq, chain.low FROM chain CROSS JOIN changes AS c ON c.seq = chain.seq
    WHERE c.version > chain.low
  )
  SELECT c.version, c.etag, c.op, c.doc, c.created_at, c.at, c.by
  FROM chain CROSS JOIN changes AS c ON c.seq = chain.seq`;

/**
 * Every fixed statement of the adapter, prepared once per connection: preparing parses and plans
 * the SQL, which would otherwise dominate the cost of a small commit.
 */
export function prepareStatements(db: Database.Database): Statements {
  return {
    getHead: db.prepare<[string, string], HeadRow>(
      `SELECT ${HEAD_COLUMNS} FROM heads WHERE collection = ? AND id = ?`,
    ),
    headForWrite: db.prepare<[string, string], WriteHeadRow>(
      `SELECT ${HEAD_COLUMNS}, last_seq, history_from FROM heads WHERE collection = ? AND id = ?`,
    ),
    upsertHead: db.prepare<HeadArgs, void>(
      `INSERT INTO heads (${HEAD_COLUMNS}, last_seq, history_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (collection, id) DO UPDATE SET
         version = excluded.version, etag = excluded.etag, deleted = excluded.deleted, doc = excluded.doc,
         created_at = excluded.created_at, updated_at = excluded.updated_at, updated_by = excluded.updated_by,
         last_seq = excluded.last_seq, history_from = max(history_from, excluded.history_from)`,
    ),
    insertChange: db.prepare<ChangeArgs, void>(
      `INSERT INTO changes (collection, id, op, version, etag, doc, at, by, created_at, prev_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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

    // The `limit` versions below `before` are the lowest the walk needs to reach.
    history: db.prepare<[HistoryParams & { before: number; limit: number }], HistoryRow>(
      `${walk('max(h.history_from, min(@before, h.version + 1) - @limit)')}
       WHERE c.version >= chain.low AND c.version < @before ORDER BY c.version DESC LIMIT @limit`,
    ),
    version: db.prepare<[HistoryParams & { version: number }], HistoryRow>(
      `${walk('max(h.history_from, @version)')} WHERE c.version >= chain.low AND c.version = @version`,
    ),
    // No index on etag: the walk covers the resource's retained history, and no more.
    versionByEtag: db.prepare<[HistoryParams & { etag: string }], HistoryRow>(
      `${walk('h.history_from')} WHERE c.version >= chain.low AND c.etag = @etag`,
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
  readonly headForWrite: Stmt<[string, string], WriteHeadRow>;
  readonly upsertHead: Stmt<HeadArgs, void>;
  readonly insertChange: Stmt<ChangeArgs, void>;
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
  readonly history: Stmt<[HistoryParams & { before: number; limit: number }], HistoryRow>;
  readonly version: Stmt<[HistoryParams & { version: number }], HistoryRow>;
  readonly versionByEtag: Stmt<[HistoryParams & { etag: string }], HistoryRow>;
  readonly changes: Stmt<[number, number], ChangeRow>;
  readonly changesOf: Stmt<[string, number, number], ChangeRow>;
  readonly lastSeq: Stmt<[], { seq: number }>;
  readonly ping: Stmt<[], { ok: number }>;
}
