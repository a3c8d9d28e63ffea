import type { CallRecord } from './record.js';

/*
 * Per-consumer roll-ups of the calls to routes with a lifecycle (issue 12 item 6), for the
 * `lifecycle` report: whom to tell before a route is retired, and who still calls it after. One
 * row per route, consumer and minute, added to in the same transaction as the call and its
 * `rollups` row, so the report reads at most routes × consumers × minutes rows however much
 * traffic the window held, and long after the raw calls are gone (kept for `retention.rollups`).
 * Only calls marked `lifecycle` are counted: the other routes add nothing here.
 */

/** The consumer column of a call without one (`auth: none`): no consumer name is empty. */
export const NO_CONSUMER = '';

/** One route's calls by one consumer in one minute. */
export interface LifecycleDelta {
  readonly route: string;
  readonly consumer: string;
  readonly minute: number;
  calls: number;
  /** Of them, answered 410 `sunset`. */
  gone: number;
  /** The latest call's start, epoch ms. */
  lastAt: number;
}

/** A route's calls by one consumer over a window, summed from the roll-ups. */
export interface LifecycleUsage {
  readonly route: string;
  readonly consumer: string | null;
  readonly calls: number;
  readonly gone: number;
  readonly lastAt: number;
}

/**
 * The batch's calls to lifecycle routes by route, consumer and minute, sorted so that concurrent
 * writers lock the rows in one order (PostgreSQL).
 */
export function lifecycleDeltas(batch: readonly CallRecord[]): LifecycleDelta[] {
  const deltas = new Map<string, LifecycleDelta>();
  for (const r of batch) {
    if (r.lifecycle !== true || r.route === null) continue;
    const minute = Math.floor(r.time / 60_000) * 60_000;
    const consumer = r.consumer ?? NO_CONSUMER;
    const key = `${r.route}\u0000${consumer}\u0000${minute}`;
    let d = deltas.get(key);
    if (!d) deltas.set(key, (d = { route: r.route, consumer, minute, calls: 0, gone: 0, lastAt: r.time }));
    d.calls++;
    if (r.status === 410 && r.code === 'sunset') d.gone++;
    d.lastAt = Math.max(d.lastAt, r.time);
  }
  return [...deltas.values()].sort(
    (a, b) => cmp(a.route, b.route) || cmp(a.consumer, b.consumer) || a.minute - b.minute,
  );
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The SQLite table (PostgreSQL's is migration 3 in storage/postgres-schema.ts). */
export const SQLITE_LIFECYCLE_SCHEMA = `
CREATE TABLE IF NOT EXISTS lifecycle_rollups (
  route TEXT NOT NULL,
  consumer TEXT NOT NULL,
  minute INTEGER NOT NULL,
  calls INTEGER NOT NULL,
  gone INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (route, consumer, minute)
);
CREATE INDEX IF NOT EXISTS lifecycle_rollups_minute ON lifecycle_rollups (minute);
`;

/** Adds one delta (route, consumer, minute, calls, gone, last_at) on SQLite. */
export const SQLITE_LIFECYCLE_UPSERT = `INSERT INTO lifecycle_rollups (route, consumer, minute, calls, gone, last_at)
  VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (route, consumer, minute) DO UPDATE SET calls = calls + excluded.calls,
    gone = gone + excluded.gone, last_at = max(last_at, excluded.last_at)`;

/** Adds every delta of a batch on PostgreSQL, in one statement: six arrays through `unnest`. */
export function postgresLifecycleUpsert(
  s: string,
  deltas: readonly LifecycleDelta[],
): { name: string; text: string; values: unknown[] } {
  return {
    name: 'truce_gw_lifecycle_rollups_upsert',
    text: `INSERT INTO ${s}.lifecycle_rollups AS r (route, consumer, minute, calls, gone, last_at)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
      ON CONFLICT (route, consumer, minute) DO UPDATE SET calls = r.calls + excluded.calls,
        gone = r.gone + excluded.gone, last_at = greatest(r.last_at, excluded.last_at)`,
    values: [
      deltas.map((d) => d.route),
      deltas.map((d) => d.consumer),
      deltas.map((d) => d.minute),
      deltas.map((d) => d.calls),
      deltas.map((d) => d.gone),
      deltas.map((d) => d.lastAt),
    ],
  };
}

/**
 * Sums the roll-ups of [since, until) by route and consumer; `?` placeholders. The `CAST`s make
 * PostgreSQL's sums int8 (numbers), not numeric (strings).
 */
export const LIFECYCLE_USAGE_SQL = `SELECT route, consumer, CAST(sum(calls) AS BIGINT) AS calls,
    CAST(sum(gone) AS BIGINT) AS gone, max(last_at) AS last_at
  FROM lifecycle_rollups WHERE minute >= ? AND minute < ? GROUP BY route, consumer`;

/** A row of {@link LIFECYCLE_USAGE_SQL} as either driver returns it. */
export function lifecycleUsage(row: Record<string, unknown>): LifecycleUsage {
  const consumer = String(row['consumer']);
  return {
    route: String(row['route']),
    consumer: consumer === NO_CONSUMER ? null : consumer,
    calls: Number(row['calls']),
    gone: Number(row['gone']),
    lastAt: Number(row['last_at']),
  };
}
