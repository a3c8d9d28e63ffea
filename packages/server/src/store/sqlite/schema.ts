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
 * - `changes`: the change feed, one row per version of any resource. AUTOINCREMENT (rather than
 *   plain rowid reuse) guarantees that a seq is never handed out twice, even after the newest rows
 *   are deleted by a future retention job, and `sqlite_sequence` keeps the high-water mark for
 *   `lastSeq`.
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
 * History (since version 3). Versions 1 and 2 kept a `history` table: a second copy of every
 * version's row, keyed by (collection, id, version), trimmed by each write to the newest
 * `keepHistory`. Each write thus changed two pages of that table (the end of the resource's range,
 * where the new version went, and its start, where the oldest one left) on top of everything else,
 * and the WAL pages a commit appends are most of what it costs. The change feed already holds every
 * version, so version 3 makes the history a list through it instead:
 * - `changes.prev_seq` is the seq of the previous version of the same resource (NULL for its first),
 *   and `changes.created_at` the creation time a version record reports;
 * - `heads.last_seq` is the seq of the resource's newest version, the start of its list, and
 *   `heads.history_from` the oldest version still in its history: "keep the newest N" moves this
 *   floor up (never down) instead of deleting rows.
 * A write appends one change row (to the feed's last page, shared by every write of the
 * transaction) and rewrites its head; history reads walk the list from the head, a primary key
 * lookup per version, never further than the floor. A retention job for the feed must therefore
 * keep every change at or above its resource's floor.
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
  // History as a list through the change feed (see above). Every version of every resource has its
  // change row, so the links are the feed's rows in seq order per resource; the floor is the oldest
  // version the history table kept.
  `
  ALTER TABLE changes ADD COLUMN prev_seq INTEGER;
  ALTER TABLE changes ADD COLUMN created_at INTEGER;
  ALTER TABLE heads ADD COLUMN last_seq INTEGER;
  ALTER TABLE heads ADD COLUMN history_from INTEGER NOT NULL DEFAULT 1;

  UPDATE changes SET prev_seq = link.prev
  FROM (SELECT seq, lag(seq) OVER (PARTITION BY collection, id ORDER BY seq) AS prev FROM changes) AS link
  WHERE link.seq = changes.seq;
  UPDATE changes SET created_at = h.created_at
  FROM history AS h
  WHERE h.collection = changes.collection AND h.id = changes.id AND h.version = changes.version;
  UPDATE heads SET last_seq = newest.seq
  FROM (SELECT collection, id, max(seq) AS seq FROM changes GROUP BY collection, id) AS newest
  WHERE newest.collection = heads.collection AND newest.id = heads.id;
  UPDATE heads SET history_from = coalesce(
    (SELECT min(h.version) FROM history AS h WHERE h.collection = heads.collection AND h.id = heads.id),
    version + 1
  );
  DROP TABLE history;
  `,
  // Idempotency keys (SPEC 3.8): one row per (scope, key) while it has not expired; a completed
  // request's answer is stored in the same transaction as its writes. And, per collection, what its
  // unique keys and references were derived from (re-derived when the configuration changes).
  `
  CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    "key" TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status INTEGER,
    headers TEXT,
    body TEXT,
    PRIMARY KEY (scope, "key")
  );
  CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
  CREATE TABLE index_state (
    collection TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // Leases (SPEC 3.9), see leases.ts: one row per resource that was ever leased. Releasing, or
  // deleting the resource, clears `token` but keeps the row, whose `fencing` the next lease counts on
  // from: fencing numbers never repeat for a resource.
  `
  CREATE TABLE leases (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    token TEXT,
    owner TEXT,
    fencing INTEGER NOT NULL,
    ttl_ms INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
  ) WITHOUT ROWID;
  `,
  // The change feed's floor: every change with a higher seq is still there; at or below it, rows
  // may have been pruned (those a resource's retained history still walks through are kept).
  `
  CREATE TABLE feed_floor (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL
  );
  INSERT INTO feed_floor (one, seq) VALUES (1, 0);
  `,
];

/** The schema version this code writes; a database with a higher one came from a newer Truce. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database up to {@link SCHEMA_VERSION} (or to `target`, to build an older database in a
 * migration test).
 *
 * Runs under BEGIN IMMEDIATE so that two processes opening a fresh file at once do not both create
 * the tables: the second waits for the write lock (busy timeout), then sees the new user_version.
 *
 * @throws Error when the file was written by a newer schema, rather than guessing at its layout.
 */
export function migrate(db: Database.Database, target: number = SCHEMA_VERSION): void {
  db.transaction(() => {
    const current = Number(db.pragma('user_version', { simple: true }));
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `The database schema version ${current} is newer than this Truce supports (${SCHEMA_VERSION}).`,
      );
    }
    for (let v = current; v < target; v++) db.exec(MIGRATIONS[v] ?? '');
    // PRAGMA takes no bound parameters; the target is our own integer.
    if (current < target) db.pragma(`user_version = ${Math.trunc(target)}`);
  }).immediate();
}
