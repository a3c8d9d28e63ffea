import { OVERLAP_MS } from '../analytics/overlap.js';
import {
  addKey,
  type Counts,
  type Field,
  emptyKey,
  FIELDS,
  type KeyCounts,
  zeroCounts,
} from '../analytics/top-k.js';
import { SQL } from './analytics-sql.js';
import type { CallRecord } from './record.js';
import { CONFLICT_STATUSES } from './stored-call.js';

/*
 * Roll-ups per key (resource, route, consumer) for the hotspots, unconditional and retries reports
 * (SPEC 5.4), which must answer for windows long after the raw calls are gone (a day at 1,000 calls/s
 * is 86M calls; `maxCalls` keeps 1M).
 *
 * - The log writer adds each batch's counts per key and minute in the batch's transaction
 *   (`keyDeltas`, an upsert that adds, as the route roll-ups do), so the roll-ups are never behind.
 * - Once a minute is closed (LATE_MS after its end: a call is logged when it ends, with the time it
 *   started), a step keeps its MINUTE_TOP_K keys with the most conflicts per dimension and deletes
 *   the others, recording the cut's error (top-k.ts); its `overlapping` counts are added from the
 *   raw writes a minute later, when the 60 s after it are in too.
 * - A finished hour is compacted into a top-HOUR_TOP_K of its own, whose error adds its minutes'.
 * - Minute rows are kept MINUTE_ROWS_MS (then windows are read in whole hours), hours
 *   `retention.rollups`.
 *
 * The steps are written once for SQLite and PostgreSQL as scripts that yield their queries (`?`
 * placeholders, `{s}` before each table for PostgreSQL's schema); a driver runs each in one
 * transaction, by one process at a time (calls/key-rollup-drivers.ts). Keys that are null (no
 * route, anonymous consumer) are stored as '' (no route or consumer is named ''); calls without a
 * resource key are not counted under `resource`.
 */

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** Keys kept per dimension and minute once it is closed, and per hour. */
export const MINUTE_TOP_K = 250;
export const HOUR_TOP_K = 1000;
/** How long after its end a minute is rolled up. */
export const LATE_MS = 35_000;
/** Minute rows are kept this long, then windows are read in whole hours. */
export const MINUTE_ROWS_MS = 3 * HOUR;
/** Rows a cut deletes per step at most (a minute's resources may be tens of thousands). */
const CUT_SLICE = 1_000;
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
  CREATE INDEX IF NOT EXISTS key_rollups_key ON {s}key_rollups (dim, span, key, start);
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
 * One step of rolling up: one dimension of the next minute closed by `now`, else the overlaps of
 * the next minute whose following minute is closed too, else one dimension of the next finished
 * hour, else pruning one period. Each step is one transaction, by one process at a time, kept small
 * so that on SQLite (synchronous) it holds the event loop briefly; it answers whether there may be
 * more to do.
 */
export function* rollUpStep(now: number, rollupsMs: number): Script<boolean> {
  let state = yield* readState();
  if (state === null) {
    const oldest = (yield q('SELECT min(start) AS t FROM {s}key_rollups WHERE span = ?', MINUTE))[0]?.['t'];
    const start = floorTo(oldest === null || oldest === undefined ? now - LATE_MS : num(oldest), MINUTE);
    yield q(
      'INSERT INTO {s}key_rollup_state (one, rolled_to, overlap_to, compacted_to) VALUES (1, ?, ?, ?)',
      start,
      start,
      floorTo(start, HOUR),
    );
    state = { rolledTo: start, overlapTo: start, compactedTo: floorTo(start, HOUR) };
  }
  const { rolledTo, overlapTo, compactedTo } = state;
  const save = (column: string, value: number) =>
    q(`UPDATE {s}key_rollup_state SET ${column} = ? WHERE one = 1`, value);

  // The next closed minute with rows, cut to its top-K.
  const closed = floorTo(now - LATE_MS, MINUTE);
  if (rolledTo < closed) {
    const next = (yield q(
      'SELECT min(start) AS t FROM {s}key_rollups WHERE span = ? AND start >= ? AND start < ?',
      MINUTE,
      rolledTo,
      closed,
    ))[0]?.['t'];
    if (next === null || next === undefined) yield save('rolled_to', closed);
    else {
      // One dimension per step, at most CUT_SLICE rows deleted, so no step holds the store long.
      const minute = num(next);
      if (!(yield* cutStep(minute))) yield save('rolled_to', minute + MINUTE);
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
      const dim = yield* uncut(HOUR, hour);
      if (dim !== undefined) yield* compactHour(dim, hour);
      else yield save('compacted_to', hour + HOUR);
    }
    return true;
  }

  // Pruning, one period of one dimension per step (a minute's keys, or an hour's).
  const minutesBefore = Math.min(compactedTo, floorTo(now - MINUTE_ROWS_MS, HOUR));
  const hoursBefore = floorTo(now - rollupsMs, HOUR);
  for (const [span, before] of [
    [MINUTE, minutesBefore],
    [HOUR, hoursBefore],
  ] as const)
    for (const dim of DIMS) {
      const oldest = (yield q(
        'SELECT min(start) AS t FROM {s}key_rollups WHERE dim = ? AND span = ? AND start < ?',
        dim,
        span,
        before,
      ))[0]?.['t'];
      if (oldest === null || oldest === undefined) continue;
      for (const table of ['key_rollups', 'key_rollup_bounds'])
        yield q(`DELETE FROM {s}${table} WHERE dim = ? AND span = ? AND start = ?`, dim, span, num(oldest));
      return true;
    }
  // Bounds of periods whose rows are gone already (few: one row per dimension and period).
  yield q('DELETE FROM {s}key_rollup_bounds WHERE span = ? AND start < ?', MINUTE, minutesBefore);
  yield q('DELETE FROM {s}key_rollup_bounds WHERE span = ? AND start < ?', HOUR, hoursBefore);
  return false;
}

/** The first dimension of a period not cut (or compacted) yet: the ones that are have their bounds row. */
function* uncut(span: number, start: number): Script<Dim | undefined> {
  const done = new Set(
    (yield q('SELECT dim FROM {s}key_rollup_bounds WHERE span = ? AND start = ?', span, start)).map((r) =>
      String(r['dim']),
    ),
  );
  return DIMS.find((d) => !done.has(d));
}

/** One key's counts of a batch in one minute, for the writer's upsert. */
export interface KeyDelta {
  readonly dim: Dim;
  readonly minute: number;
  readonly counts: KeyCounts;
}

const CONFLICTS = new Set<number>(CONFLICT_STATUSES);
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A batch's counts per dimension, key and minute, sorted so writers lock rows in one order. */
export function keyDeltas(
  batch: readonly CallRecord[],
  links: readonly { retryOf: string | null; early: boolean; blind: boolean }[],
): KeyDelta[] {
  const deltas = new Map<string, KeyDelta>();
  batch.forEach((r, i) => {
    const minute = floorTo(r.time, MINUTE);
    const link = links[i]!;
    const conflict = CONFLICTS.has(r.status);
    const write = WRITES.has(r.method);
    for (const dim of DIMS) {
      const value = dim === 'resource' ? r.resource : dim === 'route' ? r.route : r.consumer;
      if (dim === 'resource' && value === null) continue;
      const key = value ?? '';
      const id = `${dim}\u0000${minute}\u0000${key}`;
      let d = deltas.get(id);
      if (!d) deltas.set(id, (d = { dim, minute, counts: emptyKey(key) }));
      const k = d.counts;
      k.calls++;
      if (conflict) {
        k.conflicts++;
        if (k.lastAt === null || r.time > k.lastAt) k.lastAt = r.time;
        const code = r.code ?? String(r.status);
        k.byCode[code] = (k.byCode[code] ?? 0) + 1;
      }
      if (write) {
        k.writes++;
        if (!r.conditional) k.unconditional++;
      }
      if (link.retryOf !== null) {
        k.retries++;
        if (link.early) k.early++;
        if (link.blind) k.blind++;
      }
    }
  });
  const order = (d: KeyDelta) => `${d.dim}\u0000${String(d.minute).padStart(16, '0')}\u0000${d.counts.key}`;
  return [...deltas.values()].sort((a, b) => (order(a) < order(b) ? -1 : 1));
}

/** The columns a delta's upsert fills, in order (see {@link keyDeltaValues}). */
export const KEY_DELTA_COLUMNS = ['dim', 'span', 'start', 'key', ...FIELDS, 'last_at', 'by_code'] as const;

export function keyDeltaValues(d: KeyDelta): (string | number | null)[] {
  return [
    d.dim,
    MINUTE,
    d.minute,
    d.counts.key,
    ...FIELDS.map((f) => d.counts[f]),
    d.counts.lastAt,
    JSON.stringify(d.counts.byCode),
  ];
}

/**
 * What the upsert sets on a row that is there: counts added, the later `last_at`, codes merged by
 * `merge` (the store's function over the two JSON texts). `r` names the row that is there.
 */
export function keyUpsertSet(r: string, merge: (a: string, b: string) => string): string {
  return [
    ...FIELDS.map((f) => `${f} = ${r}${f} + excluded.${f}`),
    `last_at = CASE WHEN excluded.last_at IS NULL OR ${r}last_at >= excluded.last_at THEN ${r}last_at ELSE excluded.last_at END`,
    `by_code = ${merge(`${r}by_code`, 'excluded.by_code')}`,
  ].join(', ');
}

/**
 * One step of cutting a closed minute: the first dimension not cut yet (no bounds row) or not cut
 * through (more than MINUTE_TOP_K rows left). Answers false when every dimension is cut.
 */
function* cutStep(minute: number): Script<boolean> {
  for (const dim of DIMS) {
    const row = (yield q(
      `SELECT count(*) AS n, (SELECT count(*) FROM {s}key_rollup_bounds WHERE dim = ? AND span = ? AND start = ?) AS b
        FROM {s}key_rollups WHERE dim = ? AND span = ? AND start = ?`,
      dim,
      MINUTE,
      minute,
      dim,
      MINUTE,
      minute,
    ))[0];
    const bounded = num(row?.['b']) > 0;
    if (bounded && num(row?.['n']) <= MINUTE_TOP_K) continue;
    yield* cutMinute(dim, minute, bounded);
    return true;
  }
  return false;
}

/**
 * Cuts one closed minute of one dimension towards its top-K: records the cut's error (raised to
 * cover what is dropped, when a step before recorded it) and deletes at most CUT_SLICE of the
 * dropped rows; the rest go in the next steps. The ranking (as top-k.ts ranks: conflicts, calls,
 * key) and the error are taken in SQL, so a step reads K keys and one row, not the minute's tens of
 * thousands; the kept keys rank first among the rows left, so each step finds the same ones.
 */
function* cutMinute(dim: Dim, minute: number, bounded: boolean): Script<void> {
  const where = 'dim = ? AND span = ? AND start = ?';
  const at = [dim, MINUTE, minute] as const;
  const kept = (yield q(
    `SELECT key FROM {s}key_rollups WHERE ${where} ORDER BY conflicts DESC, calls DESC, key LIMIT ?`,
    ...at,
    MINUTE_TOP_K,
  )).map((r) => String(r['key']));
  const dropped = kept.length === 0 ? '' : ` AND key NOT IN (${kept.map(() => '?').join(', ')})`;
  const row = (yield q(
    `SELECT ${FIELDS.map((f) => `max(${f}) AS ${f}`).join(', ')} FROM {s}key_rollups WHERE ${where}${dropped}`,
    ...at,
    ...kept,
  ))[0];
  const error = zeroCounts();
  for (const f of FIELDS) error[f] = num(row?.[f]);
  if (bounded)
    yield q(
      `UPDATE {s}key_rollup_bounds SET ${FIELDS.map((f) => `err_${f} = CASE WHEN err_${f} > ? THEN err_${f} ELSE ? END`).join(', ')}
        WHERE ${where}`,
      ...FIELDS.flatMap((f) => [error[f], error[f]]),
      ...at,
    );
  else yield* insertBounds(dim, MINUTE, minute, error);
  yield q(
    `DELETE FROM {s}key_rollups WHERE ${where}
      AND key IN (SELECT key FROM {s}key_rollups WHERE ${where}${dropped} LIMIT ?)`,
    ...at,
    ...at,
    ...kept,
    CUT_SLICE,
  );
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
  yield* insertBounds(dim, span, start, error);
}

function* insertBounds(dim: Dim, span: number, start: number, error: Counts): Script<void> {
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
  const counted = (yield q(
    SQL.overlapping.replace('FROM calls', 'FROM {s}calls'),
    minute - OVERLAP_MS,
    minute + MINUTE + OVERLAP_MS,
    minute,
    minute + MINUTE,
  )).map((r) => ({ consumer: r['consumer'] as string | null, overlapping: num(r['overlapping']) }));
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

/**
 * Compacts one dimension of a finished hour into its top-HOUR_TOP_K: the keys summed, ranked and
 * cut in SQL, and the cut's error (per field, the largest sum left out) too, so the hour's minute
 * rows are not read into JS; then only the codes of the kept keys' rows with conflicts.
 */
function* compactHour(dim: Dim, hour: number): Script<void> {
  const where = 'dim = ? AND span = ? AND start >= ? AND start < ?';
  const at = [dim, MINUTE, hour, hour + HOUR] as const;
  const sums = FIELDS.map((f) => `sum(${f}) AS ${f}`).join(', ');
  const kept = (yield q(
    `SELECT key, ${sums}, max(last_at) AS last_at FROM {s}key_rollups WHERE ${where}
      GROUP BY key ORDER BY sum(conflicts) DESC, sum(calls) DESC, key LIMIT ?`,
    ...at,
    HOUR_TOP_K,
  )).map((r) => toKeyCounts(r, {}));
  const names = kept.map((k) => k.key);
  const dropped = names.length === 0 ? '' : ` AND key NOT IN (${names.map(() => '?').join(', ')})`;
  const row = (yield q(
    `SELECT ${FIELDS.map((f) => `max(${f}) AS ${f}`).join(', ')} FROM (
      SELECT key, ${sums} FROM {s}key_rollups WHERE ${where}${dropped} GROUP BY key) AS left_out`,
    ...at,
    ...names,
  ))[0];
  const error = zeroCounts();
  for (const f of FIELDS) error[f] = num(row?.[f]);
  const byKey = new Map(kept.map((k) => [k.key, k]));
  for (const r of yield q(
    `SELECT key, by_code FROM {s}key_rollups WHERE ${where} AND conflicts > 0`,
    ...at,
  )) {
    const k = byKey.get(String(r['key']));
    if (!k) continue;
    for (const [code, n] of Object.entries(JSON.parse(String(r['by_code'])) as Record<string, number>))
      k.byCode[code] = (k.byCode[code] ?? 0) + n;
  }
  const minutes = yield* errorOf(dim, MINUTE, hour, hour + HOUR);
  for (const f of FIELDS) error[f] += minutes[f];
  yield* insertPeriod(dim, HOUR, hour, kept, error);
}

function toKeyCounts(r: Record<string, unknown>, byCode: Record<string, number>): KeyCounts {
  const k = emptyKey(String(r['key']));
  for (const f of FIELDS) if (f in r) k[f] = num(r[f]);
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
 * The rolled-up counts of the keys of `dim` in the minutes [since, until): every key's, or with
 * `conflicted` only those of the keys with conflicts (hotspots: the rows without any are most of
 * the newest, uncut minutes). Then, for the keys `detailed(keys)` names, their codes and, with
 * `conflicted`, their calls in every row, read through the index by key.
 */
export function* readKeys(
  dim: Dim,
  since: number,
  until: number,
  state: KeyRollupState,
  now: number,
  options: {
    /** The counts to add up (the others stay 0); every one by default. */
    fields?: readonly Field[];
    conflicted?: boolean;
    detailed?: (keys: Map<string, KeyCounts>) => readonly string[];
  } = {},
): Script<RolledKeys> {
  const fields = options.fields ?? FIELDS;
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
      `SELECT key, ${fields.map((f) => `sum(${f}) AS ${f}`).join(', ')}, max(last_at) AS last_at FROM {s}key_rollups
        WHERE dim = ? AND span = ? AND start >= ? AND start < ?${options.conflicted ? ' AND conflicts > 0' : ''} GROUP BY key`,
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
  const shown = options.detailed?.(keys) ?? [];
  for (const key of shown) if (options.conflicted) keys.get(key)!.calls = 0;
  for (let i = 0; i < shown.length; i += INSERT_ROWS) {
    const slice = shown.slice(i, i + INSERT_ROWS);
    for (const p of spans) {
      const rows = yield q(
        `SELECT key, calls, by_code FROM {s}key_rollups WHERE dim = ? AND span = ?
          AND key IN (${slice.map(() => '?').join(', ')}) AND start >= ? AND start < ?`,
        dim,
        p.span,
        ...slice,
        p.from,
        p.to,
      );
      for (const r of rows) {
        const k = keys.get(String(r['key']))!;
        if (options.conflicted) k.calls += num(r['calls']);
        for (const [code, n] of Object.entries(JSON.parse(String(r['by_code'])) as Record<string, number>))
          k.byCode[code] = (k.byCode[code] ?? 0) + n;
      }
    }
  }
  return { keys, error };
}
