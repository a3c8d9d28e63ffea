import { type Histogram, merge, quantiles } from '../calls/histogram.js';
import type { CallLog, Rollup, UsageKey, UsageRow } from '../calls/log.js';
import { CONFLICT_STATUSES } from '../calls/stored-call.js';

/*
 * The analytics reports of SPEC 5.4 over the CallLog interface, the same on SQLite and PostgreSQL.
 * `summary` and `series` read raw calls (true percentiles, taken in the store) when the window is
 * at most an hour, the raw calls of all of it are still kept and there are at most RAW_POINTS of
 * them; otherwise they read the roll-ups, hourly where they can and per minute at the edges (whole
 * minutes; percentiles from the merged histograms, within ±5%).
 */

/** The longest window read from raw calls, and the most raw calls read for one answer. */
export const RAW_WINDOW_MS = 3_600_000;
export const RAW_POINTS = 100_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
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
  /** From raw calls, the store's true percentiles; from roll-ups, the merged histogram's. */
  raw: [number, number, number] | undefined;
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

  percentiles(): { p50: number | null; p95: number | null; p99: number | null } {
    const [p50, p95, p99] = (this.raw ?? quantiles(this.histogram, [0.5, 0.95, 0.99])).map((v) =>
      v === null || v === undefined ? null : round(v),
    );
    return { p50: p50 ?? null, p95: p95 ?? null, p99: p99 ?? null };
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * The calls of the window in buckets of `step` ms aligned to the epoch (a `step` of the whole window
 * gives one bucket). Raw calls when they cover it, counted and their percentiles taken in the store;
 * roll-ups otherwise (see the top of this file): whole hours from the hourly roll-ups where every
 * bucket is made of whole hours, minutes at the edges and for finer steps. `codes: false` leaves
 * the codes unread (a series shows none).
 */
async function buckets(
  log: CallLog,
  w: Window,
  step: number | undefined,
  codes: boolean,
): Promise<{ found: Map<number, Bucket>; from: number }> {
  const out = new Map<number, Bucket>();
  const at = (time: number) => {
    const key = step === undefined ? w.since : Math.floor(time / step) * step;
    let b = out.get(key);
    if (!b) out.set(key, (b = new Bucket()));
    return b;
  };
  if (await rawCovers(log, w)) {
    const origin = step === undefined ? w.since : 0;
    const width = step ?? Math.max(1, w.until - w.since);
    for (const r of await log.analytics.rawBuckets(w.route, w.since, w.until, origin, width)) {
      const b = at(r.start);
      b.calls = r.calls;
      b.byStatus = r.byStatus;
      b.byCode = r.byCode;
      b.raw = [r.p50, r.p95, r.p99];
    }
    return { found: out, from: w.since };
  }
  const since = Math.floor(w.since / MINUTE) * MINUTE;
  // Hours where each bucket is whole hours (a summary, or a step of hours); minutes around them.
  const hourly = step === undefined || step % HOUR === 0;
  const hs = hourly ? Math.ceil(since / HOUR) * HOUR : since;
  const he = hourly ? Math.max(hs, Math.floor(w.until / HOUR) * HOUR) : since;
  const reads: Promise<Rollup[]>[] = [];
  if (he > hs) {
    reads.push(log.rollups(w.route, hs, he, { span: 'hour', codes }));
    if (since < hs) reads.push(log.rollups(w.route, since, hs, { codes }));
    reads.push(log.rollups(w.route, he, w.until, { codes }));
  } else reads.push(log.rollups(w.route, since, w.until, { codes }));
  for (const rollups of await Promise.all(reads))
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
 * Whether a window is read from raw calls: at most an hour, all of it kept, at most RAW_POINTS
 * calls (as the route roll-ups count them). The key reports (key-reports.ts) follow the same rule.
 */
export async function rawCovers(log: CallLog, w: Window): Promise<boolean> {
  if (w.until - w.since > RAW_WINDOW_MS) return false;
  const since = Math.floor(w.since / MINUTE) * MINUTE;
  if ((await log.rolledCalls(w.route, since, w.until)) > RAW_POINTS) return false;
  const oldest = await log.analytics.oldest();
  if (oldest === null || oldest <= w.since) return true;
  // No raw call before `oldest`: the window began before the log's first call, or retention deleted
  // its start. The roll-ups, kept longer, tell which: they count no call in the minutes before the
  // oldest's, and no more in its minute than the raw calls kept there.
  const first = Math.floor(oldest / MINUTE) * MINUTE;
  if (first > since && (await log.rolledCalls(w.route, since, first)) > 0) return false;
  const [kept] = await log.analytics.rawBuckets(w.route, first, first + MINUTE, first, MINUTE);
  return (await log.rolledCalls(w.route, first, first + MINUTE)) <= (kept?.calls ?? 0);
}

/** `GET /analytics/summary` (SPEC 5.4, 5.6). */
export async function summary(log: CallLog, w: Window): Promise<Summary> {
  const b = (await buckets(log, w, undefined, true)).found.get(w.since) ?? new Bucket();
  const { calls, errors, conflicts } = b.counts();
  return {
    calls,
    errors,
    conflicts,
    conflictRate: calls === 0 ? 0 : conflicts / calls,
    ...b.percentiles(),
    byStatus: b.byStatus,
    byCode: b.byCode,
  };
}

/** `GET /analytics/series`: every bucket of the window, ascending, empty ones included. */
export async function series(log: CallLog, w: Window, step: number): Promise<{ items: SeriesItem[] }> {
  const { found, from } = await buckets(log, w, step, false);
  const items: SeriesItem[] = [];
  for (let t = Math.floor(from / step) * step; t < w.until; t += step) {
    const b = found.get(t) ?? new Bucket();
    items.push({
      time: new Date(t).toISOString(),
      ...b.counts(),
      ...b.percentiles(),
    });
  }
  return { items };
}

/** `GET /analytics/usage`: AI calls grouped by consumer, route and/or model, with totals. */
export interface Usage {
  items: UsageRow[];
  totals: {
    calls: number;
    errors: number;
    tokensIn: number;
    tokensOut: number;
    cost: number;
    unpriced: number;
  };
}

/**
 * AI calls in the window (calls with `ai`; raw calls, so at most `retention.calls` back), summed per
 * group of `by`: most cost first, then most tokens, then by key. Costs are rounded to 1e-9.
 */
export async function usage(
  log: CallLog,
  by: readonly UsageKey[],
  w: Window & { readonly consumer?: string | undefined },
): Promise<Usage> {
  const rows = await log.analytics.usage(by, w.since, w.until, { route: w.route, consumer: w.consumer });
  const items = rows
    .map((r) => ({ ...r, cost: roundCost(r.cost) }))
    .sort(
      (a, b) => b.cost - a.cost || b.tokensIn + b.tokensOut - (a.tokensIn + a.tokensOut) || compareKeys(a, b),
    );
  const totals = { calls: 0, errors: 0, tokensIn: 0, tokensOut: 0, cost: 0, unpriced: 0 };
  for (const r of items) {
    totals.calls += r.calls;
    totals.errors += r.errors;
    totals.tokensIn += r.tokensIn;
    totals.tokensOut += r.tokensOut;
    totals.cost += r.cost;
    totals.unpriced += r.unpriced;
  }
  totals.cost = roundCost(totals.cost);
  return { items, totals };
}

const roundCost = (cost: number) => Math.round(cost * 1e9) / 1e9;

function compareKeys(a: UsageRow, b: UsageRow): number {
  for (const k of ['consumer', 'route', 'provider', 'model'] as const) {
    const x = a[k] ?? '';
    const y = b[k] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
