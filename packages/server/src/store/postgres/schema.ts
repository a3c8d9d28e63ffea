import type { PoolClient } from 'pg';
import { feedFunctions, seqLiteral } from './feed.js';

/*
 * The PostgreSQL schema, as an append-only list of migrations, each a function of the quoted schema
 * name. The tables mirror the SQLite adapter's (../sqlite/schema.ts explains the design: heads with
 * tombstones, history as a chain through the change feed, unique keys and references kept by their
 * own primary keys, idempotency keys, leases that keep their fencing counter, the feed floor), with
 * these differences:
 *
 * - Documents are `text` holding the exact JSON text `JSON.stringify` produced, not `jsonb`: jsonb
 *   reorders members and refuses `\u0000` in strings, and a store must give back what it was given
 *   (the conformance suite checks both). Filters cast to `json`, which keeps the text as written.
 * - Every text key column is `COLLATE "C"`: ids then sort by UTF-8 bytes, as on SQLite, whatever
 *   the database's default collation.
 * - Change sequence numbers come from the SEQUENCE `change_seq`, taken by a commit's last
 *   statement. Transactions may take 5 and 6 and commit 6 first, so feed readers stop below the
 *   lowest number still in flight (feed.ts explains how that is known without a hot row). Before
 *   migration 3, a counter row (`feed_counter`) locked until COMMIT did this, serialising every
 *   commit on that lock for the length of its WAL flush.
 * - Times are epoch milliseconds in `bigint`, read back as numbers (they are safe integers).
 *
 * `schema_version` records how many migrations ran. Migrating runs in one transaction under an
 * advisory lock keyed by the schema's name, so processes starting together take turns and the later
 * ones find the work done.
 */
const MIGRATIONS: readonly ((s: string) => string)[] = [
  (s) => `
  CREATE TABLE ${s}.heads (
    collection text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    etag text NOT NULL,
    deleted boolean NOT NULL,
    doc text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    updated_by text,
    last_seq bigint,
    history_from integer NOT NULL DEFAULT 1,
    PRIMARY KEY (collection, id)
  );

  CREATE TABLE ${s}.changes (
    seq bigint PRIMARY KEY,
    collection text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    op text NOT NULL,
    version integer NOT NULL,
    etag text NOT NULL,
    doc text,
    at bigint NOT NULL,
    by text,
    created_at bigint NOT NULL,
    prev_seq bigint
  );
  CREATE INDEX changes_by_collection ON ${s}.changes (collection, seq);

  CREATE TABLE ${s}.feed_counter (
    one integer PRIMARY KEY CHECK (one = 1),
    seq bigint NOT NULL
  );
  INSERT INTO ${s}.feed_counter (one, seq) VALUES (1, 0);

  CREATE TABLE ${s}.feed_floor (
    one integer PRIMARY KEY CHECK (one = 1),
    seq bigint NOT NULL
  );
  INSERT INTO ${s}.feed_floor (one, seq) VALUES (1, 0);

  CREATE TABLE ${s}.unique_keys (
    collection text COLLATE "C" NOT NULL,
    "constraint" text COLLATE "C" NOT NULL,
    "key" text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    PRIMARY KEY (collection, "constraint", "key")
  );
  CREATE INDEX unique_keys_by_resource ON ${s}.unique_keys (collection, id);

  CREATE TABLE ${s}.refs (
    from_collection text COLLATE "C" NOT NULL,
    from_id text COLLATE "C" NOT NULL,
    pointer text COLLATE "C" NOT NULL,
    to_collection text COLLATE "C" NOT NULL,
    to_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (from_collection, from_id, pointer)
  );
  CREATE INDEX refs_by_target ON ${s}.refs (to_collection, to_id, from_collection, from_id);

  CREATE TABLE ${s}.idempotency_keys (
    scope text COLLATE "C" NOT NULL,
    "key" text COLLATE "C" NOT NULL,
    fingerprint text NOT NULL,
    done boolean NOT NULL DEFAULT false,
    locked_until bigint NOT NULL,
    expires_at bigint NOT NULL,
    status integer,
    headers text,
    body text,
    PRIMARY KEY (scope, "key")
  );
  CREATE INDEX idempotency_keys_by_expiry ON ${s}.idempotency_keys (expires_at);

  CREATE TABLE ${s}.index_state (
    collection text COLLATE "C" PRIMARY KEY,
    fingerprint text NOT NULL
  );

  CREATE TABLE ${s}.leases (
    collection text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    token text,
    owner text,
    fencing bigint NOT NULL,
    ttl_ms bigint NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (collection, id)
  );
  `,
  // The live lease, mirrored on its head (leases.ts): a one-statement write locks the head and reads
  // the lease from the same row, so a lease granted while it waited for that lock is seen.
  (s) => `
  ALTER TABLE ${s}.heads ADD COLUMN lease_token text, ADD COLUMN lease_owner text, ADD COLUMN lease_expires_at bigint;
  UPDATE ${s}.heads AS h SET lease_token = l.token, lease_owner = l.owner, lease_expires_at = l.expires_at
  FROM ${s}.leases AS l WHERE l.collection = h.collection AND l.id = h.id AND l.token IS NOT NULL;
  `,
  // Issue 14: change sequence numbers from a SEQUENCE and a visibility watermark (feed.ts), instead
  // of a counter row locked from a commit's last statement to the end of its WAL flush. The
  // counter's last number carries over; the table is dropped so that a process of an older Truce
  // still running against this schema fails its writes instead of numbering changes on its own.
  (s) => `
  CREATE SEQUENCE ${s}.change_seq AS bigint MINVALUE 1;
  SELECT setval(${seqLiteral(s)}, seq + 1, false) FROM ${s}.feed_counter WHERE one = 1;
  DROP TABLE ${s}.feed_counter;
  ${feedFunctions(s)}
  `,
];

/** The schema version this code writes; a database with a higher one came from a newer Truce. */
export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** `name` as a quoted SQL identifier. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0 || name.length > 63 || name.includes('\u0000')) {
    throw new RangeError(`"${name}" is not a usable PostgreSQL schema name (1 to 63 characters, no NUL).`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates the schema when missing and brings it up to {@link PG_SCHEMA_VERSION}, in one transaction
 * on `client`, under an advisory lock on the schema's name: of several processes starting at once,
 * one migrates and the others wait, then find the version current.
 *
 * @throws Error when the schema was written by a newer version of Truce.
 */
export async function migratePostgres(client: PoolClient, schema: string): Promise<number> {
  const s = quoteIdentifier(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`truce:migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (
      one integer PRIMARY KEY CHECK (one = 1),
      version integer NOT NULL
    )`);
    const found = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_version`);
    const current = found.rows[0]?.version ?? 0;
    if (current > PG_SCHEMA_VERSION) {
      throw new Error(
        `The database schema ${schema} is at version ${current}, newer than this Truce supports (${PG_SCHEMA_VERSION}).`,
      );
    }
    for (let v = current; v < PG_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]?.(s) ?? '');
    await client.query(
      `INSERT INTO ${s}.schema_version (one, version) VALUES (1, $1)
       ON CONFLICT (one) DO UPDATE SET version = excluded.version`,
      [PG_SCHEMA_VERSION],
    );
    await client.query('COMMIT');
    return current;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
