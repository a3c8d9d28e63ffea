import type { CallRecord } from './record.js';

/*
 * Per-consumer roll-ups of the calls to routes with a lifecycle (issue 12 item 6), for the
 * `lifecycle` report: whom to tell before a route is retired, and who still calls it after. Each
 * call is added to three rows of its route and consumer, its minute, its hour and its (UTC) day, in
 * the same transaction as the call and its `rollups` row. A window is read as whole days in its
 * middle, whole hours beside them and minutes at its edges, so however long it is (up to
 * `retention.rollups`) the report reads at most routes × consumers × (days + 46 hours + 118 minutes)
 * rows, whatever the traffic. Only calls marked `lifecycle` are counted.
 */

/** The consumer column of a call without one (`auth: none`): no consumer name is empty. */
export const NO_CONSUMER = '';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** The spans counted, longest first (each a whole number of the next). */
const SPANS = [DAY, HOUR, MINUTE] as const;

/** One route's calls by one consumer in one span (a minute, an hour or a day). */
export interface LifecycleDelta {
  readonly route: string;
  readonly consumer: string;
  /** The span's length in ms, and its start (epoch ms, a multiple of the length). */
  readonly span: number;
  readonly start: number;
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
 * The batch's calls to lifecycle routes by route, consumer and span (its minute, hour and day),
 * sorted so that concurrent writers lock the rows in one order (PostgreSQL).
 */
export function lifecycleDeltas(batch: readonly CallRecord[]): LifecycleDelta[] {
  const deltas = new Map<string, LifecycleDelta>();
  for (const r of batch) {
    if (r.lifecycle !== true || r.route === null) continue;
    const consumer = r.consumer ?? NO_CONSUMER;
    for (const span of SPANS) {
      const start = Math.floor(r.time / span) * span;
      const key = `${r.route}\u0000${consumer}\u0000${span}\u0000${start}`;
      let d = deltas.get(key);
      if (!d)
        deltas.set(key, (d = { route: r.route, consumer, span, start, calls: 0, gone: 0, lastAt: r.time }));
      d.calls++;
      if (r.status === 410 && r.code === 'sunset') d.gone++;
      d.lastAt = Math.max(d.lastAt, r.time);
    }
  }
  return [...deltas.values()].sort(
    (a, b) => cmp(a.route, b.route) || cmp(a.consumer, b.consumer) || a.span - b.span || a.start - b.start,
  );
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The SQLite table (PostgreSQL's is migration 3 in storage/postgres-schema.ts). */
export const SQLITE_LIFECYCLE_SCHEMA = `
CREATE TABLE IF NOT EXISTS lifecycle_rollups (
  route TEXT NOT NULL,
  consumer TEXT NOT NULL,
  span INTEGER NOT NULL,
  start INTEGER NOT NULL,
  calls INTEGER NOT NULL,
  gone INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (route, consumer, span, start)
);
CREATE INDEX IF NOT EXISTS lifecycle_rollups_span ON lifecycle_rollups (span, start);
`;

/** Adds one delta (route, consumer, span, start, calls, gone, last_at) on SQLite. */
export const SQLITE_LIFECYCLE_UPSERT = `INSERT INTO lifecycle_rollups (route, consumer, span, start, calls, gone, last_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (route, consumer, span, start) DO UPDATE SET calls = calls + excluded.calls,
    gone = gone + excluded.gone, last_at = max(last_at, excluded.last_at)`;

/** Adds every delta of a batch on PostgreSQL, in one statement: seven arrays through `unnest`. */
export function postgresLifecycleUpsert(
  s: string,
  deltas: readonly LifecycleDelta[],
): { name: string; text: string; values: unknown[] } {
  return {
    name: 'truce_gw_lifecycle_rollups_upsert',
    text: `INSERT INTO ${s}.lifecycle_rollups AS r (route, consumer, span, start, calls, gone, last_at)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
        $7::bigint[])
      ON CONFLICT (route, consumer, span, start) DO UPDATE SET calls = r.calls + excluded.calls,
        gone = r.gone + excluded.gone, last_at = greatest(r.last_at, excluded.last_at)`,
    values: [
      deltas.map((d) => d.route),
      deltas.map((d) => d.consumer),
      deltas.map((d) => d.span),
      deltas.map((d) => d.start),
      deltas.map((d) => d.calls),
      deltas.map((d) => d.gone),
      deltas.map((d) => d.lastAt),
    ],
  };
}

/** One piece of a window: the rows of one span length starting in [from, to). */
interface Piece {
  readonly span: number;
  readonly from: number;
  readonly to: number;
}

/**
 * [from, to) (whole minutes) as the fewest spans: whole days in the middle, whole hours beside
 * them, minutes at the edges.
 */
export function windowPieces(from: number, to: number, spans: readonly number[] = SPANS): Piece[] {
  if (from >= to) return [];
  const [span, ...shorter] = spans;
  if (span === undefined) return [];
  if (shorter.length === 0) return [{ span, from, to }];
  const lo = Math.ceil(from / span) * span;
  const hi = Math.floor(to / span) * span;
  if (lo >= hi) return windowPieces(from, to, shorter);
  return [...windowPieces(from, lo, shorter), { span, from: lo, to: hi }, ...windowPieces(hi, to, shorter)];
}

/**
 * Sums the roll-ups of [since, until) by route and consumer, widened to whole minutes (the minutes
 * holding `since` and `until`); `?` placeholders. The `CAST`s make PostgreSQL's sums int8
 * (numbers), not numeric (strings).
 */
export function lifecycleUsageQuery(
  since: number,
  until: number,
): { sql: string; args: number[] } | undefined {
  const pieces = windowPieces(Math.floor(since / MINUTE) * MINUTE, Math.ceil(until / MINUTE) * MINUTE);
  if (pieces.length === 0) return undefined;
  return {
    sql: `SELECT route, consumer, CAST(sum(calls) AS BIGINT) AS calls, CAST(sum(gone) AS BIGINT) AS gone,
        max(last_at) AS last_at FROM lifecycle_rollups
      WHERE ${pieces.map(() => '(span = ? AND start >= ? AND start < ?)').join(' OR ')}
      GROUP BY route, consumer`,
    args: pieces.flatMap((p) => [p.span, p.from, p.to]),
  };
}

/**
 * Retention deletes a row once its whole span is before the cut-off: this statement once per
 * {@link lifecycleRetention} pair (span, latest start to delete), each a range of the
 * `(span, start)` index.
 */
export const LIFECYCLE_RETENTION_SQL = 'DELETE FROM lifecycle_rollups WHERE span = ? AND start <= ?';

/** The parameters of {@link LIFECYCLE_RETENTION_SQL} for a cut-off, one pair per span. */
export function lifecycleRetention(cutoff: number): [number, number][] {
  return SPANS.map((span) => [span, cutoff - span]);
}

/** A row of {@link lifecycleUsageQuery} as either driver returns it. */
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
