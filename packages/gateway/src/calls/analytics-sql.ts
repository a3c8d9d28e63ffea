import { OVERLAP_MS } from '../analytics/overlap.js';
import type { CallAnalytics, HotspotRow } from './log.js';
import { CONFLICT_STATUSES } from './stored-call.js';

/** Runs one query with `?` placeholders and returns its rows. */
export type RunQuery = (
  sql: string,
  args: readonly (string | number)[],
) => Promise<Record<string, unknown>[]>;

/*
 * The analytics queries over raw calls, written once for SQLite and PostgreSQL: `?` placeholders
 * (PostgreSQL numbers them, see `numbered`), `CASE` instead of boolean sums, `CAST(... AS BIGINT)`
 * so PostgreSQL's sums come back as int8 (numbers), not numeric (strings). Each is an index range
 * read: conflicts by the partial index `calls_conflicts (time)`, writes by `calls_writes_cover (time, ...)` (covering),
 * retries by `calls_retries (time)`, the rest by `calls_time`.
 */

const CONFLICT = `status IN (${CONFLICT_STATUSES.join(', ')})`;
const WRITE = `method IN ('POST', 'PUT', 'PATCH', 'DELETE')`;

/** What `hotspots` groups by, and the column it reads. */
export const HOTSPOT_COLUMNS = { resource: 'resource', route: 'route', consumer: 'consumer' } as const;
export type HotspotBy = keyof typeof HOTSPOT_COLUMNS;

export const SQL = {
  oldest: 'SELECT min(time) AS t FROM calls',
  points: (route: boolean) =>
    `SELECT time, status, code, duration_ms FROM calls WHERE time >= ? AND time < ?${route ? ' AND route = ?' : ''} LIMIT ?`,
  /** Parameters: since, until, limit. */
  hotspotConflicts: (by: HotspotBy) => {
    const k = HOTSPOT_COLUMNS[by];
    return `SELECT ${k} AS k, count(*) AS conflicts, max(time) AS last_at FROM calls
      WHERE ${CONFLICT} AND time >= ? AND time < ? AND ${k} IS NOT NULL
      GROUP BY ${k} ORDER BY count(*) DESC, ${k} ASC LIMIT ?`;
  },
  /** Parameters: since, until, then the keys. */
  hotspotCodes: (by: HotspotBy, keys: number) => {
    const k = HOTSPOT_COLUMNS[by];
    return `SELECT ${k} AS k, coalesce(code, CAST(status AS TEXT)) AS code, count(*) AS n FROM calls
      WHERE ${CONFLICT} AND time >= ? AND time < ? AND ${k} IN (${marks(keys)}) GROUP BY 1, 2`;
  },
  /** Parameters: since, until, then the keys. */
  hotspotCalls: (by: HotspotBy, keys: number) => {
    const k = HOTSPOT_COLUMNS[by];
    return `SELECT ${k} AS k, count(*) AS n FROM calls
      WHERE time >= ? AND time < ? AND ${k} IN (${marks(keys)}) GROUP BY ${k}`;
  },
  /** Parameters: since, until. */
  writes: `SELECT consumer, resource, time, status, conditional FROM calls
    WHERE ${WRITE} AND time >= ? AND time < ? ORDER BY time`,
  /**
   * Per consumer, its unconditional writes in [since, until) on a resource another consumer wrote
   * successfully within 60 s before or after (SPEC 5.6), found in SQL rather than by reading every
   * write: the window's writes once, and an index the planner builds on them by resource.
   * Parameters: since - 60 s, until + 60 s, since, until.
   */
  overlapping: `WITH w AS MATERIALIZED (SELECT consumer, resource, time, status, conditional FROM calls
      WHERE ${WRITE} AND time >= ? AND time < ?)
    SELECT u.consumer AS consumer, count(*) AS overlapping FROM w AS u
    WHERE NOT u.conditional AND u.resource IS NOT NULL AND u.time >= ? AND u.time < ?
      AND EXISTS (SELECT 1 FROM w AS o WHERE o.resource = u.resource
        AND o.time >= u.time - ${OVERLAP_MS} AND o.time <= u.time + ${OVERLAP_MS}
        AND o.status >= 200 AND o.status < 300 AND o.consumer IS DISTINCT FROM u.consumer)
    GROUP BY u.consumer`,
  /** Parameters: since, until. */
  retries: `SELECT consumer, count(*) AS retries,
      CAST(sum(CASE WHEN early THEN 1 ELSE 0 END) AS BIGINT) AS early,
      CAST(sum(CASE WHEN blind THEN 1 ELSE 0 END) AS BIGINT) AS blind
    FROM calls WHERE retry_of IS NOT NULL AND time >= ? AND time < ?
    GROUP BY consumer ORDER BY count(*) DESC`,
};

/** The indexes these queries read (both schemas create them). */
export const ANALYTICS_INDEXES = [
  `calls_conflicts ON calls (time) WHERE ${CONFLICT}`,
  // Covering: `writes` and `overlapping` read a few minutes of writes without the wide call rows.
  `calls_writes_cover ON calls (time, resource, consumer, status, conditional, method) WHERE ${WRITE}`,
  `calls_retries ON calls (time) WHERE retry_of IS NOT NULL`,
];
/** The index `calls_writes_cover` replaces (by time only), dropped where a database has it. */
export const REPLACED_INDEX = 'calls_writes';

function marks(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** `?` placeholders as PostgreSQL's `$1, $2, ...`. */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

const num = (v: unknown) => Number(v);
const truthy = (v: unknown) => v === true || v === 1;

/** The analytics reads over any store that can run the queries above. */
export function rawAnalytics(all: RunQuery): CallAnalytics {
  return {
    async oldest() {
      const t = (await all(SQL.oldest, []))[0]?.['t'];
      return t === null || t === undefined ? null : num(t);
    },
    async points(route, since, until, limit) {
      const rows = await all(
        SQL.points(route !== undefined),
        route === undefined ? [since, until, limit] : [since, until, route, limit],
      );
      return rows.map((r) => ({
        time: num(r['time']),
        status: num(r['status']),
        code: r['code'] as string | null,
        durationMs: num(r['duration_ms']),
      }));
    },
    async hotspots(by, since, until, limit) {
      const top = await all(SQL.hotspotConflicts(by), [since, until, limit]);
      if (top.length === 0) return [];
      const keys = top.map((r) => String(r['k']));
      const byCode = new Map<string, Record<string, number>>(keys.map((k) => [k, {}]));
      for (const r of await all(SQL.hotspotCodes(by, keys.length), [since, until, ...keys]))
        byCode.get(String(r['k']))![String(r['code'])] = num(r['n']);
      const calls = new Map<string, number>();
      for (const r of await all(SQL.hotspotCalls(by, keys.length), [since, until, ...keys]))
        calls.set(String(r['k']), num(r['n']));
      return top.map((r): HotspotRow => ({
        key: String(r['k']),
        conflicts: num(r['conflicts']),
        calls: calls.get(String(r['k'])) ?? 0,
        byCode: byCode.get(String(r['k'])) ?? {},
        lastAt: num(r['last_at']),
      }));
    },
    async writes(since, until) {
      return (await all(SQL.writes, [since, until])).map((r) => ({
        consumer: r['consumer'] as string | null,
        resource: r['resource'] as string | null,
        time: num(r['time']),
        status: num(r['status']),
        conditional: truthy(r['conditional']),
      }));
    },
    async overlapping(since, until) {
      return (await all(SQL.overlapping, [since - OVERLAP_MS, until + OVERLAP_MS, since, until])).map(
        (r) => ({
          consumer: r['consumer'] as string | null,
          overlapping: num(r['overlapping']),
        }),
      );
    },
    async retries(since, until) {
      return (await all(SQL.retries, [since, until])).map((r) => ({
        consumer: r['consumer'] as string | null,
        retries: num(r['retries']),
        early: num(r['early']),
        blind: num(r['blind']),
      }));
    },
  };
}
