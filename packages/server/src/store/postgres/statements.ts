import { CHANGE_COLUMNS, HEAD_COLUMNS, type Statement } from './rows.js';

/**
 * The retained history of one resource, newest first: a walk down its chain of changes from the
 * head (see ../sqlite/statements.ts, which this mirrors), one primary key lookup per version, that
 * goes no lower than `low`, an expression over `heads` (h) and the statement's parameters ($1 is the
 * collection, $2 the id).
 *
 * Each step reads its change in a LATERAL subquery with LIMIT 1, which PostgreSQL cannot turn into
 * a join: a plain join let the planner hash the whole changes table at every step when the plan
 * was made while the table was small (a fresh schema, before autovacuum's first ANALYZE), and
 * prepared statements keep that plan while the table grows: 39 ms instead of 0.4 for a walk of 62
 * versions over 5,000 changes.
 */
const walk = (s: string, low: string) => `
  WITH RECURSIVE chain(seq, low) AS (
    SELECT h.last_seq, ${low} FROM ${s}.heads AS h WHERE h.collection = $1 AND h.id = $2
    UNION ALL
    SELECT c.prev_seq, chain.low FROM chain CROSS JOIN LATERAL (
      SELECT prev_seq, version FROM ${s}.changes WHERE seq = chain.seq LIMIT 1
    ) AS c
    WHERE c.version > chain.low
  )
  SELECT c.version, c.etag, c.op, c.doc, c.created_at, c.at, c.by
  FROM chain CROSS JOIN LATERAL (
    SELECT version, etag, op, doc, created_at, at, by FROM ${s}.changes WHERE seq = chain.seq LIMIT 1
  ) AS c`;

/**
 * The lease that refuses a one-statement create (plainCreate): the live lease mirrored
 * on the locked head row `cur`, held under a token other than $11, checked at time $10 (null: the
 * write asks for no lease check).
 */
const BLOCKED = `
        SELECT lease_owner, lease_expires_at FROM cur
        WHERE $10::bigint IS NOT NULL AND lease_token IS NOT NULL AND lease_expires_at > $10::bigint
          AND lease_token IS DISTINCT FROM $11::text
      `;

/**
 * Every fixed statement of a store over schema `s` (already quoted), named after its key: a pool's
 * connections belong to one store, so names need only be unique within it. With `replan`, those of
 * {@link REPLANNED} are unnamed instead.
 */
export function createStatements(s: string, replan: boolean) {
  const sql = {
    getHead: `SELECT ${HEAD_COLUMNS} FROM ${s}.heads WHERE collection = $1 AND id = $2`,
    getHeads: `SELECT ${HEAD_COLUMNS} FROM ${s}.heads
      WHERE (collection, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    // The row lock that makes compare-and-set atomic; see commit.ts.
    lockHead: `SELECT ${HEAD_COLUMNS}, last_seq, history_from FROM ${s}.heads
      WHERE collection = $1 AND id = $2 FOR UPDATE`,
    // The heads of a batch of simple writes (commit.ts, applySimpleOps), locked in key order, with
    // the live lease mirrored on each.
    lockHeads: `SELECT ${HEAD_COLUMNS}, last_seq, history_from, lease_token, lease_owner, lease_expires_at
      FROM ${s}.heads WHERE (collection, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
      ORDER BY collection, id FOR UPDATE`,
    // Claims the URL for a create: version 0 is never committed (the commit overwrites it).
    placeholderHead: `INSERT INTO ${s}.heads (${HEAD_COLUMNS}, last_seq, history_from)
      VALUES ($1, $2, 0, '', true, NULL, 0, 0, NULL, NULL, 1) ON CONFLICT DO NOTHING RETURNING version`,
    // Targets of references, share-locked: a delete of one waits for this commit, and the other way round.
    targets: `SELECT collection, id, deleted FROM ${s}.heads
      WHERE (collection, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) FOR SHARE`,
    leaseOf: `SELECT token, owner, fencing, ttl_ms, expires_at FROM ${s}.leases WHERE collection = $1 AND id = $2`,

    uniqueKeysOf: `SELECT "constraint", "key" FROM ${s}.unique_keys WHERE collection = $1 AND id = $2`,
    insertUniqueKey: `INSERT INTO ${s}.unique_keys (collection, "constraint", "key", id) VALUES ($1, $2, $3, $4)
      ON CONFLICT DO NOTHING RETURNING 1 AS one`,
    uniqueKeyHolder: `SELECT id FROM ${s}.unique_keys WHERE collection = $1 AND "constraint" = $2 AND "key" = $3`,
    deleteUniqueKeys: `DELETE FROM ${s}.unique_keys WHERE collection = $1 AND id = $2
      AND ("constraint", "key") IN (SELECT * FROM unnest($3::text[], $4::text[]))`,

    refsFrom: `SELECT pointer, to_collection, to_id FROM ${s}.refs WHERE from_collection = $1 AND from_id = $2`,
    deleteRefs: `DELETE FROM ${s}.refs WHERE from_collection = $1 AND from_id = $2 AND pointer = ANY($3::text[])`,
    upsertRefs: `INSERT INTO ${s}.refs (from_collection, from_id, pointer, to_collection, to_id)
      SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])
      ON CONFLICT (from_collection, from_id, pointer) DO UPDATE SET
        to_collection = excluded.to_collection, to_id = excluded.to_id`,
    referrers: `SELECT from_collection AS collection, count(DISTINCT from_id)::integer AS count,
        (array_agg(DISTINCT from_id ORDER BY from_id))[1:5] AS examples
      FROM ${s}.refs
      WHERE to_collection = $1 AND to_id = $2 AND NOT (from_collection = to_collection AND from_id = to_id)
      GROUP BY from_collection ORDER BY from_collection`,
    // A delete releases the resource's keys and references and ends its lease (its fencing counter stays).
    releaseAll: `WITH k AS (DELETE FROM ${s}.unique_keys WHERE collection = $1 AND id = $2),
        r AS (DELETE FROM ${s}.refs WHERE from_collection = $1 AND from_id = $2)
      UPDATE ${s}.leases SET token = NULL WHERE collection = $1 AND id = $2 AND token IS NOT NULL`,
    completeIdempotency: `UPDATE ${s}.idempotency_keys SET done = true, status = $3, headers = $4, body = $5
      WHERE scope = $1 AND "key" = $2`,

    /*
     * The end of every commit, in one statement: take $1 sequence numbers (feed.ts), append the
     * changes, and rewrite the heads, whose rows this transaction already holds. Changes: ordinal i
     * (1-based) gets the i-th number taken; its previous link is an earlier change of this commit
     * (prev_ord) or the head's last_seq (prev_seq). The notification on channel $24 reaches other
     * processes' listeners when the commit does.
     */
    finish: `WITH counter AS (
        SELECT ${s}.take_seqs($1) AS seqs
      ), appended AS (
        INSERT INTO ${s}.changes (seq, collection, id, op, version, etag, doc, at, by, created_at, prev_seq)
        SELECT counter.seqs[c.ord], c.collection, c.id, c.op, c.version, c.etag, c.doc, c.at, c.by, c.created_at,
          coalesce(counter.seqs[c.prev_ord], c.prev_seq)
        FROM counter, unnest($2::text[], $3::text[], $4::text[], $5::integer[], $6::text[], $7::text[],
          $8::bigint[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[])
          WITH ORDINALITY AS c(collection, id, op, version, etag, doc, at, by, created_at, prev_seq, prev_ord, ord)
      ), rewritten AS (
        UPDATE ${s}.heads AS h SET version = u.version, etag = u.etag, deleted = u.deleted, doc = u.doc,
          created_at = u.created_at, updated_at = u.updated_at, updated_by = u.updated_by,
          last_seq = counter.seqs[u.ord], history_from = greatest(h.history_from, u.history_from),
          lease_token = CASE WHEN u.deleted THEN NULL ELSE h.lease_token END,
          lease_owner = CASE WHEN u.deleted THEN NULL ELSE h.lease_owner END,
          lease_expires_at = CASE WHEN u.deleted THEN NULL ELSE h.lease_expires_at END
        FROM counter, unnest($13::text[], $14::text[], $15::integer[], $16::text[], $17::boolean[], $18::text[],
          $19::bigint[], $20::bigint[], $21::text[], $22::bigint[], $23::integer[])
          AS u(collection, id, version, etag, deleted, doc, created_at, updated_at, updated_by, ord, history_from)
        WHERE h.collection = u.collection AND h.id = u.id
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM rewritten)::integer AS rewritten, pg_notify($24, '') AS notified
      FROM counter`,

    /*
     * A create of a URL that never held anything ($3 is 0), with the unique keys it claims
     * ($12 constraints, $13 keys; empty arrays: none), in one statement: when no head exists, claim
     * the keys, and only when every one was claimed take a seq and insert the head, then the
     * change. A creator of the same URL or key that has not committed yet makes the insert wait for
     * it; if it commits, nothing is inserted (ON CONFLICT DO NOTHING, so no error spoils a group's
     * transaction). `written` false with keys in `claimed_*` means some were claimed and must be
     * given back (`deleteUniqueKeys`); with no current head, the URL was taken meanwhile. $4 is the time,
     * $5 the ETag, $6 the JSON text, $7 the actor, $8 how many versions to keep, $9 the NOTIFY
     * channel; $10 and $11 the time and token of the lease check (SPEC 3.9; $10 null: none). The
     * result is one row: `written`, or the existing head with `locked` and the lease's owner and
     * expiry when a lease refused it (a lease on a deleted resource's URL).
     */
    plainCreate: `WITH cur AS (
        SELECT ${HEAD_COLUMNS}, lease_token, lease_owner, lease_expires_at
        FROM ${s}.heads WHERE collection = $1 AND id = $2 FOR UPDATE
      ), blocked AS (${BLOCKED}), wanted AS (
        SELECT DISTINCT w.c, w.k FROM unnest($12::text[], $13::text[]) AS w(c, k)
      ), claimed AS (
        INSERT INTO ${s}.unique_keys (collection, "constraint", "key", id)
        SELECT $1, wanted.c, wanted.k, $2 FROM wanted WHERE NOT EXISTS (SELECT 1 FROM cur) AND $3::integer = 0
        ON CONFLICT DO NOTHING RETURNING "constraint", "key"
      ), counter AS (
        SELECT (${s}.take_seqs(1))[1] AS seq WHERE NOT EXISTS (SELECT 1 FROM cur) AND $3::integer = 0
          AND (SELECT count(*) FROM claimed) = (SELECT count(*) FROM wanted)
      ), created AS (
        INSERT INTO ${s}.heads (${HEAD_COLUMNS}, last_seq, history_from)
        SELECT $1, $2, 1, $5::text, false, $6::text, $4::bigint, $4::bigint, $7::text, counter.seq, greatest(1, 2 - $8::integer) FROM counter
        ON CONFLICT DO NOTHING RETURNING last_seq AS seq
      ), appended AS (
        INSERT INTO ${s}.changes (seq, collection, id, op, version, etag, doc, at, by, created_at, prev_seq)
        SELECT created.seq, $1, $2, 'create', 1, $5::text, $6::text, $4::bigint, $7::text, $4::bigint, NULL FROM created
      )
      SELECT cur.*, c.seq IS NOT NULL AS written,
        coalesce((SELECT array_agg("constraint") FROM claimed), '{}') AS claimed_constraints,
        coalesce((SELECT array_agg("key") FROM claimed), '{}') AS claimed_keys,
        b.lease_owner AS locked_owner, b.lease_expires_at AS locked_until, b.lease_expires_at IS NOT NULL AS locked,
        CASE WHEN c.seq IS NOT NULL THEN pg_notify($9::text, '') END AS notified
      FROM (SELECT 1) AS one LEFT JOIN cur ON true LEFT JOIN created AS c ON true LEFT JOIN blocked AS b ON true`,
    history: `${walk(s, 'greatest(h.history_from, least($3::integer, h.version + 1) - $4::integer)')}
      WHERE c.version >= chain.low AND c.version < $3::integer ORDER BY c.version DESC LIMIT $4`,
    version: `${walk(s, 'greatest(h.history_from, $3::integer)')} WHERE c.version >= chain.low AND c.version = $3`,
    versionByEtag: `${walk(s, 'h.history_from')} WHERE c.version >= chain.low AND c.etag = $3`,
    // Feed reads stop at a boundary ($3, $4) computed by an earlier statement (feed.ts).
    changes: `SELECT ${CHANGE_COLUMNS} FROM ${s}.changes WHERE seq > $1 AND seq <= $3 ORDER BY seq LIMIT $2`,
    changesOf: `SELECT ${CHANGE_COLUMNS} FROM ${s}.changes
      WHERE collection = $1 AND seq > $2 AND seq <= $4 ORDER BY seq LIMIT $3`,
    // The highest number below which every transaction has ended: the feed's committed high-water mark.
    feedBoundary: `SELECT ${s}.feed_boundary() AS seq`,
    feedFloor: `SELECT seq FROM ${s}.feed_floor WHERE one = 1`,
    // Whether both tables that REPLANNED statements join have statistics of some rows ($1, $2: their
    // names): reltuples is -1 before the first ANALYZE or VACUUM, and 0 after one of an empty table,
    // for which every plan would scan it whole.
    analyzed: `SELECT count(*) = 2 AS analyzed FROM pg_class
      WHERE oid IN (to_regclass($1), to_regclass($2)) AND reltuples > 0`,
    raiseFloor: `UPDATE ${s}.feed_floor SET seq = greatest(seq, $1) WHERE one = 1`,
    prune: `DELETE FROM ${s}.changes WHERE seq IN (
        SELECT c.seq FROM ${s}.changes AS c JOIN ${s}.heads AS h ON h.collection = c.collection AND h.id = c.id
        WHERE c.seq <= $1 AND c.version < h.history_from ORDER BY c.seq LIMIT $2)`,
  } as const;
  const named = {} as Record<keyof typeof sql, Statement>;
  for (const [key, text] of Object.entries(sql) as [keyof typeof sql, string][]) {
    named[key] = { name: replan && REPLANNED.has(key) ? undefined : `truce_${key}`, text };
  }
  return named;
}

/**
 * The statements that join a list of keys, or a whole table, with the heads or the changes. Until a
 * schema's tables have statistics of some rows (`analyzed`), they are planned again at every
 * execution (sent unnamed) instead of prepared once per connection: PostgreSQL caches a prepared
 * statement's generic plan after five executions and keeps it until the next ANALYZE of its tables,
 * and on a fresh schema that plan is made for tables it believes nearly empty (a hash of all of
 * `heads`, say) and kept while they grow, up to a minute before autovacuum's first ANALYZE, which at
 * a few thousand writes a second is a table of a hundred thousand rows. Once the tables have
 * statistics, autovacuum analyzes them again each time they grow by a tenth, which makes prepared
 * plans follow; planning each time would then cost more than it saves (about 0.05 ms of PostgreSQL
 * CPU per B1-PG request). The other statements look single rows up by key, with plans that suit a
 * table of any size as long as it has no statistics or true ones (postgres-only.test.ts).
 */
export const REPLANNED: ReadonlySet<string> = new Set([
  'getHeads',
  'lockHeads',
  'targets',
  'finish',
  'prune',
]);

/** The fixed statements of one store. */
export type Statements = ReturnType<typeof createStatements>;
