import type { PoolClient } from 'pg';
import { ANALYTICS_INDEXES, REPLACED_INDEX } from '../calls/analytics-sql.js';
import { keyRollupSchema } from '../calls/key-rollups.js';

/*
 * The gateway's PostgreSQL schema, an append-only list of migrations (each a function of the quoted
 * schema name). The tables mirror the SQLite ones (store/sqlite.ts, calls/sqlite-log.ts):
 *
 * - Ids are `text COLLATE "C"`, so cursors sort them by bytes as SQLite does.
 * - Times are epoch milliseconds in `bigint`.
 * - `calls.seq` is an identity column: the order of `GET /calls` and its cursors. The indexes serve
 *   the admin API's filters and the analytics of part 2: by route, resource, consumer, status and
 *   code, each followed by `seq` so a filtered page is an index range read in order; by time for
 *   retention and time windows.
 * - `rollups` counts are `jsonb` maps, and `truce_merge_counts` adds two of them key by key inside
 *   the upsert: several gateway processes write the same route's minute, and each adds to it.
 *
 * `schema_version` records how many migrations ran. Migrating is one transaction under an advisory
 * lock keyed by the schema's name, so processes starting together take turns.
 */
const MIGRATIONS: readonly ((s: string) => string)[] = [
  (s) => `
  CREATE TABLE ${s}.consumers (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at bigint NOT NULL
  );
  CREATE TABLE ${s}.api_keys (
    id text COLLATE "C" PRIMARY KEY,
    consumer_id text COLLATE "C" NOT NULL REFERENCES ${s}.consumers (id) ON DELETE CASCADE,
    hash text NOT NULL UNIQUE,
    prefix text NOT NULL,
    created_at bigint NOT NULL,
    last_used_at bigint
  );
  CREATE INDEX api_keys_consumer ON ${s}.api_keys (consumer_id, id);
  CREATE TABLE ${s}.subscriptions (
    id text COLLATE "C" PRIMARY KEY,
    consumer_id text COLLATE "C" NOT NULL REFERENCES ${s}.consumers (id) ON DELETE CASCADE,
    route text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'revoked')),
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    UNIQUE (consumer_id, route)
  );
  CREATE TABLE ${s}.audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time bigint NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail jsonb NOT NULL
  );

  CREATE TABLE ${s}.calls (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    time bigint NOT NULL,
    route text, target text, consumer text, client_ip text NOT NULL,
    method text NOT NULL, path text NOT NULL, query text, resource text,
    status integer NOT NULL, code text,
    conditional boolean NOT NULL, warned boolean NOT NULL,
    retry_of text, early boolean,
    duration_ms double precision NOT NULL, upstream_ms double precision,
    request_bytes bigint NOT NULL, response_bytes bigint NOT NULL,
    request_id text NOT NULL, traceparent text NOT NULL, idempotency_key text,
    detail text NOT NULL
  );
  CREATE INDEX calls_time ON ${s}.calls (time);
  CREATE INDEX calls_route ON ${s}.calls (route, seq);
  CREATE INDEX calls_resource ON ${s}.calls (resource, seq) WHERE resource IS NOT NULL;
  CREATE INDEX calls_consumer ON ${s}.calls (consumer, seq) WHERE consumer IS NOT NULL;
  CREATE INDEX calls_status ON ${s}.calls (status, seq);
  CREATE INDEX calls_code ON ${s}.calls (code, seq) WHERE code IS NOT NULL;

  CREATE TABLE ${s}.rollups (
    route text NOT NULL,
    minute bigint NOT NULL,
    calls bigint NOT NULL,
    by_status jsonb NOT NULL,
    by_code jsonb NOT NULL,
    latency jsonb NOT NULL,
    PRIMARY KEY (route, minute)
  );
  CREATE INDEX rollups_minute ON ${s}.rollups (minute);

  CREATE FUNCTION ${s}.truce_merge_counts(a jsonb, b jsonb) RETURNS jsonb
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)
      FROM (SELECT key, sum(value::numeric) AS total
              FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS both_maps
             GROUP BY key) AS sums
  $$;
  `,
  // Issue 12: retry and stale-by links, and the partial indexes analytics reads (calls/analytics-sql.ts).
  (s) => `
  ALTER TABLE ${s}.calls ADD COLUMN blind boolean, ADD COLUMN stale_by_id text,
    ADD COLUMN stale_by_consumer text, ADD COLUMN stale_by_time bigint;
  CREATE INDEX calls_conflicts ON ${s}.calls (time) WHERE status IN (409, 412, 423, 428);
  CREATE INDEX calls_writes ON ${s}.calls (time) WHERE method IN ('POST', 'PUT', 'PATCH', 'DELETE');
  CREATE INDEX calls_retries ON ${s}.calls (time) WHERE retry_of IS NOT NULL;
  `,
  // Issue 12: roll-ups per resource, route and consumer, minutes and hours (calls/key-rollups.ts);
  // the writes' index by time made covering (calls/analytics-sql.ts).
  (s) => `${keyRollupSchema('bigint').replaceAll('{s}', `${s}.`)}
  DROP INDEX IF EXISTS ${s}.${REPLACED_INDEX};
  ${ANALYTICS_INDEXES.map((i) => `CREATE INDEX IF NOT EXISTS ${i.replace(' ON calls ', ` ON ${s}.calls `)};`).join('\n  ')}
  `,
  // Issue 12: hourly route roll-ups, written with the minutes; filled from the minutes there are.
  (s) => `
  CREATE TABLE ${s}.rollup_hours (
    route text NOT NULL,
    hour bigint NOT NULL,
    calls bigint NOT NULL,
    by_status jsonb NOT NULL,
    by_code jsonb NOT NULL,
    latency jsonb NOT NULL,
    PRIMARY KEY (route, hour)
  );
  CREATE INDEX rollup_hours_hour ON ${s}.rollup_hours (hour);
  INSERT INTO ${s}.rollup_hours (route, hour, calls, by_status, by_code, latency)
    SELECT route, hour, sum(calls), ${['by_status', 'by_code', 'latency']
      .map(
        (c) => `(SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb) FROM (
          SELECT e.key, sum(e.value::numeric) AS total FROM ${s}.rollups AS m, jsonb_each_text(m.${c}) AS e
          WHERE m.route = h.route AND m.minute >= h.hour AND m.minute < h.hour + 3600000 GROUP BY e.key) AS sums)`,
      )
      .join(', ')}
    FROM (SELECT route, minute - minute % 3600000 AS hour, calls FROM ${s}.rollups) AS h
    GROUP BY route, hour;
  `,
  // Issue 12: calls to lifecycle routes per consumer and minute, hour and day (calls/lifecycle-rollups.ts).
  (s) => `
  CREATE TABLE ${s}.lifecycle_rollups (
    route text NOT NULL,
    consumer text NOT NULL,
    span bigint NOT NULL,
    start bigint NOT NULL,
    calls bigint NOT NULL,
    gone bigint NOT NULL,
    last_at bigint NOT NULL,
    PRIMARY KEY (route, consumer, span, start)
  );
  CREATE INDEX lifecycle_rollups_span ON ${s}.lifecycle_rollups (span, start);
  `,
  // AI routes: which model answered and what it cost (calls/record.ts AiCallInfo); null elsewhere.
  (s) => `
  ALTER TABLE ${s}.calls ADD COLUMN ai_alias text, ADD COLUMN ai_provider text, ADD COLUMN ai_model text,
    ADD COLUMN tokens_in bigint, ADD COLUMN tokens_out bigint, ADD COLUMN cost double precision,
    ADD COLUMN ai_estimated boolean, ADD COLUMN ai_attempts integer, ADD COLUMN ai_stream boolean,
    ADD COLUMN ttft_ms double precision, ADD COLUMN prompt text, ADD COLUMN prompt_version text,
    ADD COLUMN conversation text;
  CREATE INDEX calls_ai ON ${s}.calls (time) WHERE ai_alias IS NOT NULL;
  `,
];

/** The schema version this code writes; a database with a higher one came from a newer Truce. */
export const GATEWAY_SCHEMA_VERSION = MIGRATIONS.length;

/** `name` as a quoted SQL identifier. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0 || name.length > 63 || name.includes('\u0000')) {
    throw new RangeError(`"${name}" is not a usable PostgreSQL schema name (1 to 63 characters, no NUL).`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates the schema when missing and brings it up to {@link GATEWAY_SCHEMA_VERSION}, in one
 * transaction under an advisory lock on the schema's name.
 *
 * @throws Error when the schema was written by a newer version of Truce.
 */
export async function migrateGatewaySchema(client: PoolClient, schema: string): Promise<void> {
  const s = quoteIdentifier(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `truce:gateway:migrate:${schema}`,
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (
      one integer PRIMARY KEY CHECK (one = 1),
      version integer NOT NULL
    )`);
    const found = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_version`);
    const current = found.rows[0]?.version ?? 0;
    if (current > GATEWAY_SCHEMA_VERSION) {
      throw new Error(
        `the gateway schema ${schema} is at version ${current}, newer than this Truce supports (${GATEWAY_SCHEMA_VERSION})`,
      );
    }
    for (let v = current; v < GATEWAY_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]?.(s) ?? '');
    await client.query(
      `INSERT INTO ${s}.schema_version (one, version) VALUES (1, $1)
       ON CONFLICT (one) DO UPDATE SET version = excluded.version`,
      [GATEWAY_SCHEMA_VERSION],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
