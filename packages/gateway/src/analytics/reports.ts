import { type Histogram, merge, quantile } from '../calls/histogram.js';
import type { CallAnalytics, CallLog, CallPoint } from '../calls/log.js';
import { CONFLICT_STATUSES } from '../calls/stored-call.js';

/*
 * The analytics reports of SPEC 5.4 over the CallLog interface, the same on SQLite and PostgreSQL.
 * `summary` and `series` read raw calls (true percentiles) when the window is at most an hour, the
 * raw calls of all of it are still kept and there are at most RAW_POINTS of them; otherwise they
 * read the per-minute roll-ups (whole minutes; percentiles from the merged histograms, within ±5%).
 */

/** The longest window read from raw calls, and the most raw calls read for one answer. */
export const RAW_WINDOW_MS = 3_600_000;
export const RAW_POINTS = 100_000;
const MINUTE = 60_000;
const CONFLICT = new Set<number>(CONFLICT_STATUSES);

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
 * gives one bucket). Raw calls when they cover it, roll-ups otherwise (see the top of this file).
 */
async function buckets(log: CallLog, w: Window, step: number | undefined): Promise<Map<number, Bucket>> {
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
  const points = rolled <= RAW_POINTS ? await rawPoints(log.analytics, w) : undefined;
  if (points) {
    for (const p of points) {
      const b = at(p.time);
      b.calls++;
      b.byStatus[p.status] = (b.byStatus[p.status] ?? 0) + 1;
      if (p.code !== null) b.byCode[p.code] = (b.byCode[p.code] ?? 0) + 1;
      b.durations.push(p.durationMs);
    }
    for (const b of out.values()) b.durations.sort((x, y) => x - y);
    return out;
  }
  for (const r of rollups) {
    const b = at(r.minute);
    b.calls += r.calls;
    for (const [k, v] of Object.entries(r.byStatus)) b.byStatus[k] = (b.byStatus[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.byCode)) b.byCode[k] = (b.byCode[k] ?? 0) + v;
    merge(b.histogram, r.latency);
  }
  return out;
}

/**
 * Whether a window is read from raw calls: at most an hour, all of it kept, at most RAW_POINTS
 * calls (as the route roll-ups count them). The key reports (key-reports.ts) follow the same rule.
 */
export async function rawCovers(log: CallLog, w: Window): Promise<boolean> {
  if (w.until - w.since > RAW_WINDOW_MS) return false;
  const rollups = await log.rollups(w.route, Math.floor(w.since / MINUTE) * MINUTE, w.until);
  if (rollups.reduce((n, r) => n + r.calls, 0) > RAW_POINTS) return false;
  const oldest = await log.analytics.oldest();
  return oldest === null || oldest <= w.since;
}

/** The raw calls of the window when they are all kept and not too many, else undefined. */
async function rawPoints(log: CallAnalytics, w: Window): Promise<CallPoint[] | undefined> {
  if (w.until - w.since > RAW_WINDOW_MS) return undefined;
  const oldest = await log.oldest();
  if (oldest !== null && oldest > w.since) return undefined;
  const points = await log.points(w.route, w.since, w.until, RAW_POINTS + 1);
  return points.length > RAW_POINTS ? undefined : points;
}

/** `GET /analytics/summary` (SPEC 5.4, 5.6). */
export async function summary(log: CallLog, w: Window): Promise<Summary> {
  const b = (await buckets(log, w, undefined)).get(w.since) ?? new Bucket();
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
  const found = await buckets(log, w, step);
  const items: SeriesItem[] = [];
  for (let t = Math.floor(w.since / step) * step; t < w.until; t += step) {
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
