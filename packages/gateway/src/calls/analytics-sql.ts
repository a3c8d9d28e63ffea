import { OVERLAP_MS } from '../analytics/overlap.js';
import type { CallAnalytics, HotspotRow, RawBucket, UsageKey } from './log.js';
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

/** A call's bucket from an origin and step (integers on both stores: SQLite binds numbers as REAL). */
const BUCKET = '(time - CAST(? AS BIGINT)) / CAST(? AS BIGINT)';
/** The percentiles the reports show, in hundredths. */
const PERCENTILES = [50, 95, 99] as const;

/** What `hotspots` groups by, and the column it reads. */
export const HOTSPOT_COLUMNS = { resource: 'resource', route: 'route', consumer: 'consumer' } as const;
export type HotspotBy = keyof typeof HOTSPOT_COLUMNS;

export const SQL = {
  oldest: 'SELECT min(time) AS t FROM calls',
  /** Per bucket, status and code, the calls. Parameters: origin, step, since, until (, route). */
  bucketCounts: (route: boolean) =>
    `SELECT ${BUCKET} AS b, status, code, count(*) AS n FROM calls
      WHERE time >= ? AND time < ?${route ? ' AND route = ?' : ''} GROUP BY 1, 2, 3`,
  /**
   * Per bucket, the durations at the nearest ranks ceil(q·n) of q = 0.5, 0.95 and 0.99 (integer
   * arithmetic, the same on both stores), with the bucket's n: three rows per bucket at most.
   * Parameters: origin, step, since, until (, route).
   */
  bucketPercentiles: (route: boolean) =>
    `SELECT b, n, rn, duration_ms FROM (
        SELECT b, duration_ms, row_number() OVER (PARTITION BY b ORDER BY duration_ms) AS rn,
          count(*) OVER (PARTITION BY b) AS n
        FROM (SELECT ${BUCKET} AS b, duration_ms FROM calls
          WHERE time >= ? AND time < ?${route ? ' AND route = ?' : ''}) AS c) AS r
      WHERE ${PERCENTILES.map((p) => `rn = (${p} * n + 99) / 100`).join(' OR ')}`,
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
  /**
   * AI calls summed per group (by the partial index `calls_ai (time)`): calls, 5xx, tokens, the priced calls' cost and the unpriced calls.
   * Parameters: since, until (, route) (, consumer).
   */
  usage: (by: readonly UsageKey[], route: boolean, consumer: boolean) => {
    const keys = by.flatMap((k) => USAGE_COLUMNS[k]);
    const select = keys.length ? `${keys.join(', ')}, ` : '';
    return `SELECT ${select}count(*) AS calls,
        CAST(sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS BIGINT) AS errors,
        CAST(coalesce(sum(tokens_in), 0) AS BIGINT) AS tokens_in,
        CAST(coalesce(sum(tokens_out), 0) AS BIGINT) AS tokens_out,
        coalesce(sum(cost), 0) AS cost,
        CAST(sum(CASE WHEN cost IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unpriced
      FROM calls WHERE ai_alias IS NOT NULL AND time >= ? AND time < ?${route ? ' AND route = ?' : ''}${consumer ? ' AND consumer = ?' : ''}
      ${keys.length ? `GROUP BY ${keys.join(', ')}` : ''}`;
  },
};

/** The columns each key of the usage report groups by. */
const USAGE_COLUMNS: Record<UsageKey, readonly string[]> = {
  consumer: ['consumer'],
  route: ['route'],
  model: ['ai_provider', 'ai_model'],
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
    async rawBuckets(route, since, until, origin, step) {
      const args = [origin, step, since, until, ...(route === undefined ? [] : [route])];
      const [counts, ranks] = await Promise.all([
        all(SQL.bucketCounts(route !== undefined), args),
        all(SQL.bucketPercentiles(route !== undefined), args),
      ]);
      const out = new Map<number, { -readonly [K in keyof RawBucket]: RawBucket[K] }>();
      const at = (b: number) => {
        let bucket = out.get(b);
        if (!bucket) {
          bucket = { start: origin + b * step, calls: 0, byStatus: {}, byCode: {}, p50: 0, p95: 0, p99: 0 };
          out.set(b, bucket);
        }
        return bucket;
      };
      for (const r of counts) {
        const bucket = at(num(r['b']));
        const n = num(r['n']);
        bucket.calls += n;
        const status = String(r['status']);
        bucket.byStatus[status] = (bucket.byStatus[status] ?? 0) + n;
        const code = r['code'];
        if (code !== null && code !== undefined)
          bucket.byCode[String(code)] = (bucket.byCode[String(code)] ?? 0) + n;
      }
      for (const r of ranks) {
        const bucket = at(num(r['b']));
        const n = num(r['n']);
        const rn = num(r['rn']);
        const ms = num(r['duration_ms']);
        // Several percentiles may fall on one rank.
        const [p50, p95, p99] = PERCENTILES.map((p) => Math.trunc((p * n + 99) / 100) === rn);
        if (p50) bucket.p50 = ms;
        if (p95) bucket.p95 = ms;
        if (p99) bucket.p99 = ms;
      }
      return [...out.values()].sort((a, b) => a.start - b.start);
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
    async usage(by, since, until, filter) {
      // Stored values never hold U+0000, and PostgreSQL refuses it in a parameter.
      if ([filter.route, filter.consumer].some((v) => v?.includes('\u0000'))) return [];
      const args = [since, until, ...[filter.route, filter.consumer].filter((v) => v !== undefined)];
      const sql = SQL.usage(by, filter.route !== undefined, filter.consumer !== undefined);
      const text = (name: string) => (r: Record<string, unknown>) =>
        r[name] === null || r[name] === undefined ? null : String(r[name]);
      return (await all(sql, args)).map((r) => ({
        consumer: text('consumer')(r),
        route: text('route')(r),
        provider: text('ai_provider')(r),
        model: text('ai_model')(r),
        calls: num(r['calls']),
        errors: num(r['errors']),
        tokensIn: num(r['tokens_in']),
        tokensOut: num(r['tokens_out']),
        cost: num(r['cost']),
        unpriced: num(r['unpriced']),
      }));
    },
  };
}
