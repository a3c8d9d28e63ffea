import type Database from 'better-sqlite3';

/*
 * The schema, as an append-only list of migrations. `PRAGMA user_version` records how many have
 * been applied; it lives in the database header, so it needs no table of its own and is read and
 * written inside the same transaction as the DDL.
 *
 * Tables:
 * - `heads`: the current state of every URL that ever held something. A delete turns the row into a
 *   tombstone (`deleted = 1`, `doc` NULL) instead of removing it, because the tombstone's version is
 *   what the next create builds on: versions never restart (SPEC 3.1).
 * - `history`: one row per version, trimmed to the newest `keepHistory` rows per resource by the
 *   commit that appends. Versions of a resource are contiguous (every write appends exactly one), so
 *   "keep the newest N" is a range delete on the primary key.
 * - `changes`: the change feed. AUTOINCREMENT (rather than plain rowid reuse) guarantees that a seq is
 *   never handed out twice, even after the newest rows are deleted by a future retention job, and
 *   `sqlite_sequence` keeps the high-water mark for `lastSeq`.
 *
 * - `unique_keys` (since version 2): one row per unique key a live resource holds. The primary key
 *   is the constraint itself: of two writers of one key, the second insert conflicts, so uniqueness
 *   never depends on a check-then-insert. Indexed by resource, to release or replace its keys.
 * - `refs` (since version 2): one row per reference field of a live resource, keyed by the field's
 *   JSON Pointer, indexed by target so that a delete finds who still points at it. In a WITHOUT
 *   ROWID table the index carries the primary key columns too, so it also lists the referrers in
 *   (collection, id) order without touching the table.
 *
 * Neither table keeps rows for tombstones: a delete removes the resource's keys and outgoing refs.
 *
 * Documents are stored as the exact JSON text `JSON.stringify` produced and parsed back with
 * `JSON.parse`; SQLite's JSON functions only read them (list filters), so numbers and strings
 * round-trip byte for byte. Text columns use the default BINARY collation: ids sort by UTF-8 bytes,
 * which is code point order, the same order PostgreSQL gives with `COLLATE "C"`.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE heads (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    etag TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    doc TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (collection, id)
  ) WITHOUT ROWID;

  CREATE TABLE history (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    etag TEXT NOT NULL,
    op TEXT NOT NULL,
    doc TEXT,
    created_at INTEGER NOT NULL,
    at INTEGER NOT NULL,
    by TEXT,
    PRIMARY KEY (collection, id, version)
  ) WITHOUT ROWID;

  CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL,
    version INTEGER NOT NULL,
    etag TEXT NOT NULL,
    doc TEXT,
    at INTEGER NOT NULL,
    by TEXT
  );
  CREATE INDEX changes_by_collection ON changes (collection, seq);
  `,
  // "constraint" and "key" are SQL keywords: quoted wherever they are used.
  `
  CREATE TABLE unique_keys (
    collection TEXT NOT NULL,
    "constraint" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (collection, "constraint", "key")
  ) WITHOUT ROWID;
  CREATE INDEX unique_keys_by_resource ON unique_keys (collection, id);

  CREATE TABLE refs (
    from_collection TEXT NOT NULL,
    from_id TEXT NOT NULL,
    pointer TEXT NOT NULL,
    to_collection TEXT NOT NULL,
    to_id TEXT NOT NULL,
    PRIMARY KEY (from_collection, from_id, pointer)
  ) WITHOUT ROWID;
  CREATE INDEX refs_by_target ON refs (to_collection, to_id);
  `,
];

/** The schema version this code writes; a database with a higher one came from a newer Truce. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database up to {@link SCHEMA_VERSION}.
 *
 * Runs under BEGIN IMMEDIATE so that two processes opening a fresh file at once do not both create
 * the tables: the second waits for the write lock (busy timeout), then sees the new user_version.
 *
 * @throws Error when the file was written by a newer schema, rather than guessing at its layout.
 */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = Number(db.pragma('user_version', { simple: true }));
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `The database schema version ${current} is newer than this Truce supports (${SCHEMA_VERSION}).`,
      );
    }
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] ?? '');
    // PRAGMA takes no bound parameters; SCHEMA_VERSION is our own integer.
    if (current !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
