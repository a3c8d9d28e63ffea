import { type Histogram, merge, quantile } from '../calls/histogram.js';
import type { CallAnalytics, CallLog, CallPoint, Rollup, WriteRow } from '../calls/log.js';
import { CONFLICT_STATUSES } from '../calls/stored-call.js';

/*
 * The analytics reports of SPEC 5.4 over the CallLog interface, the same on SQLite and PostgreSQL.
 * `summary` and `series` read raw calls (true percentiles) when the window is at most an hour, the
 * raw calls of all of it are still kept and there are at most RAW_POINTS of them; otherwise they
 * read the per-minute roll-ups (whole minutes; percentiles from the merged histograms, within ±5%).
 * From roll-ups, a minute's calls count in the `series` step that holds the minute's start.
 */

/** The longest window read from raw calls, and the most raw calls read for one answer. */
export const RAW_WINDOW_MS = 3_600_000;
export const RAW_POINTS = 100_000;
const MINUTE = 60_000;
const CONFLICT = new Set<number>(CONFLICT_STATUSES);
/** Another consumer's write within this of an unconditional one makes it `overlapping` (SPEC 5.6). */
const OVERLAP_MS = 60_000;

export interface Window {
  readonly route?: string | undefined;
  readonly since: number;
  readonly until: number;
}

/** `GET /analytics/summary`. */
export interface Summary {
  calls: number;
  errors: number;
  conflicts: number;
  conflictRate: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
}

/** One item of `GET /analytics/series`. */
export interface SeriesItem {
  time: string;
  calls: number;
  errors: number;
  conflicts: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Counts and latencies of one bucket, from raw calls or roll-ups. */
class Bucket {
  calls = 0;
  byStatus: Record<string, number> = {};
  byCode: Record<string, number> = {};
  /** Raw durations (exact percentiles) or, from roll-ups, a histogram. */
  durations: number[] = [];
  histogram: Histogram = {};

  counts(): { calls: number; errors: number; conflicts: number } {
    let errors = 0;
    let conflicts = 0;
    for (const [status, n] of Object.entries(this.byStatus)) {
      if (Number(status) >= 500) errors += n;
      if (CONFLICT.has(Number(status))) conflicts += n;
    }
    return { calls: this.calls, errors, conflicts };
  }

  percentile(q: number): number | null {
    if (this.durations.length > 0) {
      // Nearest rank over the sorted raw durations.
      const i = Math.max(0, Math.ceil(q * this.durations.length) - 1);
      return round(this.durations[i]!);
    }
    const v = quantile(this.histogram, q);
    return v === null ? null : round(v);
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * The calls of the window in buckets of `step` ms aligned to the epoch (a `step` of the whole window
 * gives one bucket). Raw calls when they cover it, roll-ups otherwise (see the top of this file);
 * `from` is the first instant counted: `since`, or from roll-ups the start of its minute.
 */
async function buckets(
  log: CallLog,
  w: Window,
  step: number | undefined,
): Promise<{ found: Map<number, Bucket>; from: number }> {
  const out = new Map<number, Bucket>();
  const at = (time: number) => {
    const key = step === undefined ? w.since : Math.floor(time / step) * step;
    let b = out.get(key);
    if (!b) out.set(key, (b = new Bucket()));
    return b;
  };
  const since = Math.floor(w.since / MINUTE) * MINUTE;
  const rollups = await log.rollups(w.route, since, w.until);
  // The roll-ups say how many raw calls the window holds before any is read.
  const rolled = rollups.reduce((n, r) => n + r.calls, 0);
  const points = rolled <= RAW_POINTS ? await rawPoints(log.analytics, w, rollups) : undefined;
  if (points) {
    for (const p of points) {
      const b = at(p.time);
      b.calls++;
      b.byStatus[p.status] = (b.byStatus[p.status] ?? 0) + 1;
      if (p.code !== null) b.byCode[p.code] = (b.byCode[p.code] ?? 0) + 1;
      b.durations.push(p.durationMs);
    }
    for (const b of out.values()) b.durations.sort((x, y) => x - y);
    return { found: out, from: w.since };
  }
  for (const r of rollups) {
    const b = at(r.minute);
    b.calls += r.calls;
    for (const [k, v] of Object.entries(r.byStatus)) b.byStatus[k] = (b.byStatus[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.byCode)) b.byCode[k] = (b.byCode[k] ?? 0) + v;
    merge(b.histogram, r.latency);
  }
  return { found: out, from: since };
}

/**
 * The raw calls of the window when they are all kept and not too many, else undefined. No raw call
 * is older than `oldest`: when it is after `since`, the window either began before the log's first
 * call or retention deleted its start. The window's roll-ups (`rollups`, read before the raw calls),
 * which retention keeps longer, tell which: they count no call in the minutes before the oldest's,
 * and no more in its minute than are kept there.
 */
async function rawPoints(
  log: CallAnalytics,
  w: Window,
  rollups: readonly Rollup[],
): Promise<CallPoint[] | undefined> {
  if (w.until - w.since > RAW_WINDOW_MS) return undefined;
  const oldest = await log.oldest();
  const first = oldest === null ? Infinity : Math.floor(oldest / MINUTE) * MINUTE;
  const partial = oldest === null || oldest > w.since;
  // With a partial start, the whole of the oldest call's minute is read, to count what it kept.
  const end = partial && first !== Infinity ? Math.max(w.until, first + MINUTE) : w.until;
  const points = await log.points(w.route, w.since, end, RAW_POINTS + 1);
  if (points.length > RAW_POINTS) return undefined;
  if (partial) {
    let before = 0;
    let inFirst = 0;
    for (const r of rollups) {
      if (r.minute < first) before += r.calls;
      else if (r.minute === first) inFirst += r.calls;
    }
    const kept = points.filter((p) => p.time >= first && p.time < first + MINUTE).length;
    if (before > 0 || kept < inFirst) return undefined;
  }
  return end === w.until ? points : points.filter((p) => p.time < w.until);
}

/** `GET /analytics/summary` (SPEC 5.4, 5.6). */
export async function summary(log: CallLog, w: Window): Promise<Summary> {
  const b = (await buckets(log, w, undefined)).found.get(w.since) ?? new Bucket();
  const { calls, errors, conflicts } = b.counts();
  return {
    calls,
    errors,
    conflicts,
    conflictRate: calls === 0 ? 0 : conflicts / calls,
    p50: b.percentile(0.5),
    p95: b.percentile(0.95),
    p99: b.percentile(0.99),
    byStatus: b.byStatus,
    byCode: b.byCode,
  };
}

/** `GET /analytics/series`: every bucket of the window, ascending, empty ones included. */
export async function series(log: CallLog, w: Window, step: number): Promise<{ items: SeriesItem[] }> {
  const { found, from } = await buckets(log, w, step);
  const items: SeriesItem[] = [];
  for (let t = Math.floor(from / step) * step; t < w.until; t += step) {
    const b = found.get(t) ?? new Bucket();
    items.push({
      time: new Date(t).toISOString(),
      ...b.counts(),
      p50: b.percentile(0.5),
      p95: b.percentile(0.95),
      p99: b.percentile(0.99),
    });
  }
  return { items };
}

/** One item of `GET /analytics/unconditional` (SPEC 5.6). */
export interface UnconditionalItem {
  consumer: string | null;
  writes: number;
  unconditional: number;
  overlapping: number;
}

/**
 * `GET /analytics/unconditional`: per consumer, its writes, those without a precondition, and those
 * of them on a resource another consumer wrote successfully within 60 s before or after.
 */
export async function unconditional(log: CallLog, w: Window): Promise<{ items: UnconditionalItem[] }> {
  const all = await log.analytics.writes(w.since - OVERLAP_MS, w.until + OVERLAP_MS);
  const done = new Map<string, WriteRow[]>();
  for (const x of all) {
    if (x.resource === null || x.status < 200 || x.status >= 300) continue;
    let list = done.get(x.resource);
    if (!list) done.set(x.resource, (list = []));
    list.push(x);
  }
  const by = new Map<string | null, UnconditionalItem>();
  for (const x of all) {
    if (x.time < w.since || x.time >= w.until) continue;
    let item = by.get(x.consumer);
    if (!item)
      by.set(x.consumer, (item = { consumer: x.consumer, writes: 0, unconditional: 0, overlapping: 0 }));
    item.writes++;
    if (x.conditional) continue;
    item.unconditional++;
    const near = x.resource === null ? undefined : done.get(x.resource);
    if (near && overlaps(near, x)) item.overlapping++;
  }
  const items = [...by.values()].sort(
    (a, b) => b.overlapping - a.overlapping || b.unconditional - a.unconditional || b.writes - a.writes,
  );
  return { items };
}

/** Another consumer's write in `writes` (in time order) within 60 s of `x`: a binary search, then a short scan. */
function overlaps(writes: readonly WriteRow[], x: WriteRow): boolean {
  let lo = 0;
  let hi = writes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (writes[mid]!.time < x.time - OVERLAP_MS) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < writes.length && writes[i]!.time <= x.time + OVERLAP_MS; i++)
    if (writes[i]!.consumer !== x.consumer) return true;
  return false;
}
