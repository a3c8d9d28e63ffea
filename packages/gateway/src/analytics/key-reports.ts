import { type Dim, type KeyRollupState, readKeys, type RolledKeys } from '../calls/key-rollups.js';
import type { CallLog } from '../calls/log.js';
import { OVERLAP_MS, type WriteCounts, writeCounts } from './overlap.js';
import { rawCovers, type Window } from './reports.js';
import type { Counts, KeyCounts } from './top-k.js';

/*
 * `hotspots`, `unconditional` and `retries` (SPEC 5.4, 5.6). A window the raw calls cover (see
 * `rawCovers`) is read from them, exactly, as `summary` does. Otherwise from the key roll-ups
 * (calls/key-rollups.ts: whole minutes, whole hours at edges older than three hours), which the log
 * writer keeps up to date, except `overlapping`: it is rolled up a minute and a half after its
 * minute, and read from the raw writes until then. A count from the roll-ups may be short of the
 * truth, never over it, by at most the answer's `error` for that count (absent when every count
 * is exact).
 */

/** By how much each count of an answer may be short, when any may. */
export type ReportError = Partial<Counts>;

/** One item of `GET /analytics/hotspots`. */
export interface HotspotItem {
  key: string;
  conflicts: number;
  calls: number;
  byCode: Record<string, number>;
  lastAt: number;
}

/** One item of `GET /analytics/retries`. */
export interface RetryItem {
  consumer: string | null;
  retries: number;
  early: number;
  blind: number;
}

/**
 * The keys of `dim` in the window from the roll-ups, and the state they were read at; undefined
 * when the raw calls cover the window or nothing was rolled up yet.
 */
async function rolled(
  log: CallLog,
  dim: Dim,
  w: Window,
  now: number,
  options: Parameters<typeof readKeys>[5] = {},
): Promise<(RolledKeys & { state: KeyRollupState }) | undefined> {
  if (await rawCovers(log, w)) return undefined;
  const state = await log.keys.state();
  if (state === null) return undefined;
  return { ...(await log.keys.read(readKeys(dim, w.since, w.until, state, now, options))), state };
}

/** The error to show: the listed counts' where any is above 0. */
function shown(error: Counts | undefined, fields: readonly (keyof Counts)[]): { error?: ReportError } {
  if (!error || fields.every((f) => error[f] === 0)) return {};
  return { error: Object.fromEntries(fields.map((f) => [f, error[f]])) };
}

/** `GET /analytics/hotspots`: keys with conflicts, most first (then by key), at most `limit`. */
export async function hotspots(
  log: CallLog,
  by: Dim,
  w: Window,
  limit: number,
  now: number,
): Promise<{ items: HotspotItem[]; error?: ReportError }> {
  const top = (keys: Map<string, KeyCounts>) =>
    [...keys.values()]
      .filter((k) => k.conflicts > 0 && k.key !== '')
      .sort((a, b) => b.conflicts - a.conflicts || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, limit);
  // Only keys with conflicts count; their calls and codes are read for the keys shown.
  const r = await rolled(log, by, w, now, {
    conflicted: true,
    detailed: (keys) => top(keys).map((k) => k.key),
  });
  if (!r) return { items: await log.analytics.hotspots(by, w.since, w.until, limit) };
  const items = top(r.keys).map((k) => ({
    key: k.key,
    conflicts: k.conflicts,
    calls: k.calls,
    byCode: k.byCode,
    lastAt: k.lastAt ?? 0,
  }));
  return { items, ...shown(r.error, ['conflicts', 'calls']) };
}

/**
 * `GET /analytics/unconditional`: per consumer, its writes, those without a precondition, and those
 * of them on a resource another consumer wrote successfully within 60 s before or after.
 */
export async function unconditional(
  log: CallLog,
  w: Window,
  now: number,
): Promise<{ items: WriteCounts[]; error?: ReportError }> {
  const r = await rolled(log, 'consumer', w, now, { fields: ['writes', 'unconditional', 'overlapping'] });
  const by = new Map<string | null, WriteCounts>();
  for (const k of r?.keys.values() ?? []) {
    if (k.writes === 0) continue;
    const consumer = k.key === '' ? null : k.key;
    by.set(consumer, {
      consumer,
      writes: k.writes,
      unconditional: k.unconditional,
      overlapping: k.overlapping,
    });
  }
  if (!r) {
    // The raw calls cover the window: every count from them.
    const writes = await log.analytics.writes(w.since - OVERLAP_MS, w.until + OVERLAP_MS);
    for (const c of writeCounts(writes, w.since, w.until)) by.set(c.consumer, c);
  } else if (r.state.overlapTo < w.until) {
    // The overlaps not rolled up yet, from the raw writes.
    for (const c of await log.analytics.overlapping(Math.max(w.since, r.state.overlapTo), w.until)) {
      const item = by.get(c.consumer);
      if (item) item.overlapping += c.overlapping;
    }
  }
  const items = [...by.values()].sort(
    (a, b) => b.overlapping - a.overlapping || b.unconditional - a.unconditional || b.writes - a.writes,
  );
  return { items, ...shown(r?.error, ['writes', 'unconditional', 'overlapping']) };
}

/** `GET /analytics/retries`: per consumer, its retries, those before `Retry-After`, and the blind ones. */
export async function retries(
  log: CallLog,
  w: Window,
  now: number,
): Promise<{ items: RetryItem[]; error?: ReportError }> {
  const r = await rolled(log, 'consumer', w, now, { fields: ['retries', 'early', 'blind'] });
  if (!r) return { items: await log.analytics.retries(w.since, w.until) };
  const items: RetryItem[] = [];
  for (const k of r.keys.values())
    if (k.retries > 0)
      items.push({
        consumer: k.key === '' ? null : k.key,
        retries: k.retries,
        early: k.early,
        blind: k.blind,
      });
  items.sort((a, b) => b.retries - a.retries || b.early - a.early || b.blind - a.blind);
  return { items, ...shown(r.error, ['retries', 'early', 'blind']) };
}
