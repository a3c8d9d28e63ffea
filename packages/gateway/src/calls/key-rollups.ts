import { writeCounts } from '../analytics/overlap.js';
import {
  addKey,
  type Counts,
  emptyKey,
  FIELDS,
  type KeyCounts,
  topK,
  zeroCounts,
} from '../analytics/top-k.js';
import { CONFLICT_STATUSES } from './stored-call.js';

/*
 * Roll-ups per key (resource, route, consumer) for the hotspots, unconditional and retries reports
 * (SPEC 5.4), which must answer for windows long after the raw calls are gone (a day at 1,000 calls/s
 * is 86M calls; `maxCalls` keeps 1M). Written once for SQLite and PostgreSQL as scripts that yield
 * their queries (`?` placeholders, `{s}` before each table for PostgreSQL's schema); a driver runs
 * them (calls/key-rollup-drivers.ts), synchronously in one SQLite transaction or in one PostgreSQL
 * transaction under an advisory lock, so one process at a time rolls up.
 *
 * - A minute is rolled up from the raw calls once it is closed (LATE_MS after its end, the default
 *   response timeout and a batch: a call is logged when it ends, with the time it started). Its
 *   `overlapping` counts need the writes of the next 60 s too, so they are added OVERLAP_MS later.
 * - Each minute keeps, per dimension, the TOP_K keys with the most conflicts (top-k.ts) and a bounds
 *   row with the cut's error; once an hour's minutes all have their overlaps, the hour is compacted
 *   into one top-K of its own, whose error adds the minutes' errors and its own cut.
 * - Minute rows are kept MINUTE_ROWS_MS (then only hours), hour rows `retention.rollups`.
 *
 * Keys that are null (no route, anonymous consumer) are stored as '' (no route or consumer is
 * named ''); calls without a resource key are not counted under `resource`.
 */

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** Keys kept per dimension and period. */
export const TOP_K = 1000;
/** How long after its end a minute is rolled up. */
export const LATE_MS = 35_000;
/** Another consumer's write within this of an unconditional one is an overlap (SPEC 5.6). */
const OVERLAP_MS = 60_000;
/** Minute rows are kept this long, then windows are read in whole hours. */
export const MINUTE_ROWS_MS = 3 * HOUR;
/** Rows per multi-row INSERT. */
const INSERT_ROWS = 200;

export const DIMS = ['resource', 'route', 'consumer'] as const;
export type Dim = (typeof DIMS)[number];

export interface Query {
  readonly sql: string;
  readonly args: readonly (string | number | null)[];
}
export type Rows = Record<string, unknown>[];
/** A script of queries: each `yield` sends one and gets its rows back (none for writes). */
export type Script<T> = Generator<Query, T, Rows>;

const q = (sql: string, ...args: (string | number | null)[]): Query => ({ sql, args });
const num = (v: unknown) => Number(v ?? 0);
const floorTo = (t: number, step: number) => Math.floor(t / step) * step;

const CONFLICT = `status IN (${CONFLICT_STATUSES.join(', ')})`;
const WRITE = `method IN ('POST', 'PUT', 'PATCH', 'DELETE')`;
const COUNT_COLUMNS = FIELDS.join(', ');
const ERROR_COLUMNS = FIELDS.map((f) => `err_${f}`).join(', ');

/** The tables, for SQLite (`INTEGER`) and PostgreSQL (`bigint`, `{s}` replaced by the schema). */
export function keyRollupSchema(int: 'INTEGER' | 'bigint'): string {
  const counts = FIELDS.map((f) => `${f} ${int} NOT NULL`).join(', ');
  const errors = FIELDS.map((f) => `err_${f} ${int} NOT NULL`).join(', ');
  return `
  CREATE TABLE IF NOT EXISTS {s}key_rollups (
    dim TEXT NOT NULL, span ${int} NOT NULL, start ${int} NOT NULL, key TEXT NOT NULL,
    ${counts}, last_at ${int}, by_code TEXT NOT NULL,
    PRIMARY KEY (dim, span, start, key)
  );
  CREATE TABLE IF NOT EXISTS {s}key_rollup_bounds (
    dim TEXT NOT NULL, span ${int} NOT NULL, start ${int} NOT NULL, ${errors},
    PRIMARY KEY (dim, span, start)
  );
  CREATE TABLE IF NOT EXISTS {s}key_rollup_state (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    rolled_to ${int} NOT NULL, overlap_to ${int} NOT NULL, compacted_to ${int} NOT NULL
  );`;
}

/** How far the roll-ups reach: minutes before `rolledTo` are rolled up, and their overlaps before `overlapTo`. */
export interface KeyRollupState {
  readonly rolledTo: number;
  readonly overlapTo: number;
  readonly compactedTo: number;
}

export function* readState(): Script<KeyRollupState | null> {
  const row = (yield q('SELECT rolled_to, overlap_to, compacted_to FROM {s}key_rollup_state'))[0];
  return row
    ? {
        rolledTo: num(row['rolled_to']),
        overlapTo: num(row['overlap_to']),
        compactedTo: num(row['compacted_to']),
      }
    : null;
}

/**
 * One step of rolling up: the next minute closed by `now`, else the overlaps of the next minute
 * whose following minute is closed too, else the next finished hour, else pruning. Each step is one
 * transaction, by one process at a time; it answers whether there may be more to do.
 */
export function* rollUpStep(now: number, rollupsMs: number): Script<boolean> {
  let state = yield* readState();
  if (state === null) {
    const oldest = (yield q('SELECT min(time) AS t FROM {s}calls'))[0]?.['t'];
    const start = floorTo(oldest === null || oldest === undefined ? now : num(oldest), HOUR);
    yield q(
      'INSERT INTO {s}key_rollup_state (one, rolled_to, overlap_to, compacted_to) VALUES (1, ?, ?, ?)',
      start,
      start,
      start,
    );
    state = { rolledTo: start, overlapTo: start, compactedTo: start };
  }
  const { rolledTo, overlapTo, compactedTo } = state;
  const save = (column: string, value: number) =>
    q(`UPDATE {s}key_rollup_state SET ${column} = ? WHERE one = 1`, value);

  // The next minute with calls, skipping those without.
  const closed = floorTo(now - LATE_MS, MINUTE);
  if (rolledTo < closed) {
    const next = (yield q(
      'SELECT min(time) AS t FROM {s}calls WHERE time >= ? AND time < ?',
      rolledTo,
      closed,
    ))[0]?.['t'];
    if (next === null || next === undefined) yield save('rolled_to', closed);
    else {
      const minute = floorTo(num(next), MINUTE);
      yield* rollMinute(minute);
      yield save('rolled_to', minute + MINUTE);
    }
    return true;
  }

  // Overlaps, once the next 60 s of writes are in too; only minutes with unconditional writes.
  const overlapClosed = Math.min(rolledTo, floorTo(now - LATE_MS - OVERLAP_MS, MINUTE));
  if (overlapTo < overlapClosed) {
    const next = (yield q(
      `SELECT min(time) AS t FROM {s}calls WHERE ${WRITE} AND time >= ? AND time < ? AND NOT conditional`,
      overlapTo,
      overlapClosed,
    ))[0]?.['t'];
    if (next === null || next === undefined) yield save('overlap_to', overlapClosed);
    else {
      const minute = floorTo(num(next), MINUTE);
      yield* overlapMinute(minute);
      yield save('overlap_to', minute + MINUTE);
    }
    return true;
  }

  // The next hour whose minutes are complete, skipping those without rows.
  const hoursClosed = floorTo(overlapTo, HOUR);
  if (compactedTo < hoursClosed) {
    const next = (yield q(
      'SELECT min(start) AS t FROM {s}key_rollups WHERE span = ? AND start >= ? AND start < ?',
      MINUTE,
      compactedTo,
      hoursClosed,
    ))[0]?.['t'];
    if (next === null || next === undefined) yield save('compacted_to', hoursClosed);
    else {
      const hour = floorTo(num(next), HOUR);
      for (const dim of DIMS) yield* compactHour(dim, hour);
      yield save('compacted_to', hour + HOUR);
    }
    return true;
  }

  const minutesBefore = Math.min(compactedTo, floorTo(now - MINUTE_ROWS_MS, HOUR));
  const hoursBefore = floorTo(now - rollupsMs, HOUR);
  for (const table of ['key_rollups', 'key_rollup_bounds']) {
    yield q(`DELETE FROM {s}${table} WHERE span = ? AND start < ?`, MINUTE, minutesBefore);
    yield q(`DELETE FROM {s}${table} WHERE span = ? AND start < ?`, HOUR, hoursBefore);
  }
  return false;
}

/**
 * Every key's counts in [since, until) of the raw calls, by the dimensions given (null keys as
 * ''; calls without a resource are left out of `resource`). Overlaps are not counted here.
 */
export function* rawKeyCounts(
  dims: readonly Dim[],
  since: number,
  until: number,
): Script<Map<Dim, Map<string, KeyCounts>>> {
  const cols = dims.join(', ');
  const rows = yield q(
    `SELECT ${cols}, count(*) AS calls,
      sum(CASE WHEN ${CONFLICT} THEN 1 ELSE 0 END) AS conflicts,
      max(CASE WHEN ${CONFLICT} THEN time END) AS last_at,
      sum(CASE WHEN ${WRITE} THEN 1 ELSE 0 END) AS writes,
      sum(CASE WHEN ${WRITE} AND NOT conditional THEN 1 ELSE 0 END) AS unconditional,
      sum(CASE WHEN retry_of IS NOT NULL THEN 1 ELSE 0 END) AS retries,
      sum(CASE WHEN retry_of IS NOT NULL AND early THEN 1 ELSE 0 END) AS early,
      sum(CASE WHEN retry_of IS NOT NULL AND blind THEN 1 ELSE 0 END) AS blind
    FROM {s}calls WHERE time >= ? AND time < ? GROUP BY ${cols}`,
    since,
    until,
  );
  const codes = yield q(
    `SELECT ${cols}, coalesce(code, CAST(status AS TEXT)) AS code, count(*) AS n FROM {s}calls
      WHERE ${CONFLICT} AND time >= ? AND time < ? GROUP BY ${cols}, coalesce(code, CAST(status AS TEXT))`,
    since,
    until,
  );
  const out = new Map<Dim, Map<string, KeyCounts>>(dims.map((d) => [d, new Map()]));
  const at = (dim: Dim, r: Record<string, unknown>) => {
    const v = r[dim];
    if (dim === 'resource' && (v === null || v === undefined)) return undefined;
    const key = v === null || v === undefined ? '' : String(v);
    const keys = out.get(dim)!;
    let k = keys.get(key);
    if (!k) keys.set(key, (k = emptyKey(key)));
    return k;
  };
  for (const r of rows) {
    const one = { ...emptyKey(''), lastAt: r['last_at'] === null ? null : num(r['last_at']) };
    for (const f of FIELDS) if (f !== 'overlapping') one[f] = num(r[f]);
    for (const dim of dims) {
      const k = at(dim, r);
      if (k) addKey(k, one);
    }
  }
  for (const r of codes)
    for (const dim of dims) {
      const k = at(dim, r);
      if (k) k.byCode[String(r['code'])] = (k.byCode[String(r['code'])] ?? 0) + num(r['n']);
    }
  return out;
}

function* rollMinute(minute: number): Script<void> {
  const counts = yield* rawKeyCounts(DIMS, minute, minute + MINUTE);
  for (const dim of DIMS) {
    const { kept, error } = topK([...counts.get(dim)!.values()], TOP_K);
    yield* insertPeriod(dim, MINUTE, minute, kept, error);
  }
}

function* insertPeriod(
  dim: Dim,
  span: number,
  start: number,
  kept: KeyCounts[],
  error: Counts,
): Script<void> {
  for (let i = 0; i < kept.length; i += INSERT_ROWS) {
    const slice = kept.slice(i, i + INSERT_ROWS);
    const marks = `(?, ?, ?, ?, ${FIELDS.map(() => '?').join(', ')}, ?, ?)`;
    yield q(
      `INSERT INTO {s}key_rollups (dim, span, start, key, ${COUNT_COLUMNS}, last_at, by_code)
        VALUES ${slice.map(() => marks).join(', ')}`,
      ...slice.flatMap((k) => [
        dim,
        span,
        start,
        k.key,
        ...FIELDS.map((f) => k[f]),
        k.lastAt,
        JSON.stringify(k.byCode),
      ]),
    );
  }
  yield q(
    `INSERT INTO {s}key_rollup_bounds (dim, span, start, ${ERROR_COLUMNS}) VALUES (?, ?, ?, ${FIELDS.map(() => '?').join(', ')})`,
    dim,
    span,
    start,
    ...FIELDS.map((f) => error[f]),
  );
}

/** Adds the overlapping writes of one rolled-up minute to its consumers' rows. */
function* overlapMinute(minute: number): Script<void> {
  const writes = yield q(
    `SELECT consumer, resource, time, status, conditional FROM {s}calls
      WHERE ${WRITE} AND time >= ? AND time < ? ORDER BY time`,
    minute - OVERLAP_MS,
    minute + MINUTE + OVERLAP_MS,
  );
  const counted = writeCounts(
    writes.map((r) => ({
      consumer: r['consumer'] as string | null,
      resource: r['resource'] as string | null,
      time: num(r['time']),
      status: num(r['status']),
      conditional: r['conditional'] === true || r['conditional'] === 1,
    })),
    minute,
    minute + MINUTE,
  ).filter((c) => c.overlapping > 0);
  if (counted.length === 0) return;
  const keys = new Set(
    (yield q(
      'SELECT key FROM {s}key_rollups WHERE dim = ? AND span = ? AND start = ?',
      'consumer',
      MINUTE,
      minute,
    )).map((r) => String(r['key'])),
  );
  let dropped = 0;
  for (const c of counted) {
    const key = c.consumer ?? '';
    if (!keys.has(key)) dropped = Math.max(dropped, c.overlapping);
    else
      yield q(
        'UPDATE {s}key_rollups SET overlapping = ? WHERE dim = ? AND span = ? AND start = ? AND key = ?',
        c.overlapping,
        'consumer',
        MINUTE,
        minute,
        key,
      );
  }
  // A consumer the minute's cut left out: its overlaps join that cut's error.
  if (dropped > 0)
    yield q(
      `UPDATE {s}key_rollup_bounds SET err_overlapping = CASE WHEN err_overlapping > ? THEN err_overlapping ELSE ? END
        WHERE dim = ? AND span = ? AND start = ?`,
      dropped,
      dropped,
      'consumer',
      MINUTE,
      minute,
    );
}

function* compactHour(dim: Dim, hour: number): Script<void> {
  const rows = yield q(
    `SELECT key, ${COUNT_COLUMNS}, last_at, by_code FROM {s}key_rollups WHERE dim = ? AND span = ? AND start >= ? AND start < ?`,
    dim,
    MINUTE,
    hour,
    hour + HOUR,
  );
  const keys = new Map<string, KeyCounts>();
  for (const r of rows) {
    const key = String(r['key']);
    let k = keys.get(key);
    if (!k) keys.set(key, (k = emptyKey(key)));
    addKey(k, toKeyCounts(r, JSON.parse(String(r['by_code'])) as Record<string, number>));
  }
  const { kept, error } = topK([...keys.values()], TOP_K);
  const minutes = yield* errorOf(dim, MINUTE, hour, hour + HOUR);
  for (const f of FIELDS) error[f] += minutes[f];
  yield* insertPeriod(dim, HOUR, hour, kept, error);
}

function toKeyCounts(r: Record<string, unknown>, byCode: Record<string, number>): KeyCounts {
  const k = emptyKey(String(r['key']));
  for (const f of FIELDS) k[f] = num(r[f]);
  k.lastAt = r['last_at'] === null || r['last_at'] === undefined ? null : num(r['last_at']);
  k.byCode = byCode;
  return k;
}

function* errorOf(dim: Dim, span: number, from: number, to: number): Script<Counts> {
  const row = (yield q(
    `SELECT ${FIELDS.map((f) => `sum(err_${f}) AS ${f}`).join(', ')} FROM {s}key_rollup_bounds
      WHERE dim = ? AND span = ? AND start >= ? AND start < ?`,
    dim,
    span,
    from,
    to,
  ))[0];
  const out = zeroCounts();
  for (const f of FIELDS) out[f] = num(row?.[f]);
  return out;
}

/** Rolled-up keys of a window, summed, with the error of every count (see top-k.ts). */
export interface RolledKeys {
  readonly keys: Map<string, KeyCounts>;
  readonly error: Counts;
}

/**
 * The periods that cover the minutes [since, until) as the roll-ups hold them: whole hours where
 * they are compacted, minutes around them; where minute rows are gone (older than
 * `minutesFrom`), the hour around the edge whole.
 */
export function periods(
  since: number,
  until: number,
  compactedTo: number,
  minutesFrom: number,
): { span: number; from: number; to: number }[] {
  const s = floorTo(since, MINUTE);
  const e = Math.ceil(until / MINUTE) * MINUTE;
  if (s >= e) return [];
  const hs = s < minutesFrom ? floorTo(s, HOUR) : Math.ceil(s / HOUR) * HOUR;
  const he = Math.min(
    e < minutesFrom ? Math.ceil(e / HOUR) * HOUR : floorTo(e, HOUR),
    floorTo(compactedTo, HOUR),
  );
  if (hs >= he) return [{ span: MINUTE, from: s, to: e }];
  const out = [{ span: HOUR, from: hs, to: he }];
  if (s < hs) out.push({ span: MINUTE, from: s, to: hs });
  if (he < e) out.push({ span: MINUTE, from: he, to: e });
  return out;
}

/**
 * The rolled-up counts of every key of `dim` in the minutes [since, until), and the codes of
 * `codesOf(keys)`'s keys only (a JSON map per row, read for the keys an answer shows).
 */
export function* readKeys(
  dim: Dim,
  since: number,
  until: number,
  state: KeyRollupState,
  now: number,
  codesOf: (keys: Map<string, KeyCounts>) => readonly string[],
): Script<RolledKeys> {
  const keys = new Map<string, KeyCounts>();
  const error = zeroCounts();
  const spans = periods(
    since,
    until,
    state.compactedTo,
    Math.min(state.compactedTo, floorTo(now - MINUTE_ROWS_MS, HOUR)),
  );
  for (const p of spans) {
    const rows = yield q(
      `SELECT key, ${FIELDS.map((f) => `sum(${f}) AS ${f}`).join(', ')}, max(last_at) AS last_at FROM {s}key_rollups
        WHERE dim = ? AND span = ? AND start >= ? AND start < ? GROUP BY key`,
      dim,
      p.span,
      p.from,
      p.to,
    );
    for (const r of rows) {
      const key = String(r['key']);
      let k = keys.get(key);
      if (!k) keys.set(key, (k = emptyKey(key)));
      addKey(k, toKeyCounts(r, {}));
    }
    const e = yield* errorOf(dim, p.span, p.from, p.to);
    for (const f of FIELDS) error[f] += e[f];
  }
  const shown = codesOf(keys);
  for (let i = 0; i < shown.length; i += INSERT_ROWS) {
    const slice = shown.slice(i, i + INSERT_ROWS);
    for (const p of spans) {
      const rows = yield q(
        `SELECT key, by_code FROM {s}key_rollups WHERE dim = ? AND span = ? AND start >= ? AND start < ?
          AND key IN (${slice.map(() => '?').join(', ')})`,
        dim,
        p.span,
        p.from,
        p.to,
        ...slice,
      );
      for (const r of rows) {
        const k = keys.get(String(r['key']))!;
        for (const [code, n] of Object.entries(JSON.parse(String(r['by_code'])) as Record<string, number>))
          k.byCode[code] = (k.byCode[code] ?? 0) + n;
      }
    }
  }
  return { keys, error };
}
