import type { KeyRollupState } from '../calls/key-rollups.js';
import { type Dim, rawKeyCounts, readKeys } from '../calls/key-rollups.js';
import type { CallLog } from '../calls/log.js';
import { OVERLAP_MS, type WriteCounts, writeCounts } from './overlap.js';
import { rawCovers, type Window } from './reports.js';
import { addKey, type Counts, emptyKey, type KeyCounts } from './top-k.js';

/*
 * `hotspots`, `unconditional` and `retries` (SPEC 5.4, 5.6). A window the raw calls cover (see
 * `rawCovers`) is read from them, exactly. Otherwise the minutes already rolled up per key come from
 * the key roll-ups (calls/key-rollups.ts: whole minutes, whole hours past three hours, top-K per
 * period) and the rest, the last minute or two, from the raw calls. A count from the roll-ups may be
 * short of the truth, never over it, by at most the answer's `error` for that count (absent when
 * every count is exact).
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
 * The keys of `dim` in the window from the roll-ups, up to `upTo` (one of the state's watermarks),
 * and where the raw calls take over: the window's start when the raw calls cover it.
 */
async function rolled(
  log: CallLog,
  dim: Dim,
  w: Window,
  now: number,
  upTo: keyof KeyRollupState,
  codesOf: (keys: Map<string, KeyCounts>) => readonly string[] = () => [],
): Promise<{ keys: Map<string, KeyCounts>; error: Counts | undefined; rawFrom: number }> {
  const none = { keys: new Map<string, KeyCounts>(), error: undefined, rawFrom: w.since };
  if (await rawCovers(log, w)) return none;
  const state = await log.keys.state();
  if (state === null || state[upTo] <= w.since) return none;
  const read = await log.keys.read(
    readKeys(dim, w.since, Math.min(w.until, state[upTo]), state, now, codesOf),
  );
  return { ...read, rawFrom: Math.max(w.since, state[upTo]) };
}

/** The error to show: the listed counts' where any is above 0. */
function shown(error: Counts | undefined, fields: readonly (keyof Counts)[]): { error?: ReportError } {
  if (!error || fields.every((f) => error[f] === 0)) return {};
  return { error: Object.fromEntries(fields.map((f) => [f, error[f]])) };
}

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const hotspotOrder = (a: KeyCounts, b: KeyCounts) => b.conflicts - a.conflicts || byKey(a, b);

/** `GET /analytics/hotspots`: keys with conflicts, most first (then by key), at most `limit`. */
export async function hotspots(
  log: CallLog,
  by: Dim,
  w: Window,
  limit: number,
  now: number,
): Promise<{ items: HotspotItem[]; error?: ReportError }> {
  if (await rawCovers(log, w)) return { items: await log.analytics.hotspots(by, w.since, w.until, limit) };
  // The raw tail first: which keys the codes are read for depends on the totals with it.
  const state = await log.keys.state();
  const tailFrom = state === null ? w.since : Math.max(w.since, state.rolledTo);
  const tail =
    tailFrom < w.until
      ? (await log.keys.read(rawKeyCounts([by], tailFrom, w.until))).get(by)!
      : new Map<string, KeyCounts>();
  const top = (keys: Map<string, KeyCounts>) => {
    const all = new Map<string, KeyCounts>();
    for (const map of [keys, tail])
      for (const k of map.values()) {
        let sum = all.get(k.key);
        if (!sum) all.set(k.key, (sum = emptyKey(k.key)));
        addKey(sum, k);
      }
    return [...all.values()]
      .filter((k) => k.conflicts > 0 && k.key !== '')
      .sort(hotspotOrder)
      .slice(0, limit);
  };
  const r = await rolled(log, by, w, now, 'rolledTo', (keys) => top(keys).map((k) => k.key));
  // `top` again, now with the codes read for its keys.
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
  const r = await rolled(log, 'consumer', w, now, 'overlapTo');
  const from = r.rawFrom;
  const by = new Map<string | null, WriteCounts>();
  for (const k of r.keys.values()) {
    if (k.writes === 0) continue;
    const consumer = k.key === '' ? null : k.key;
    by.set(consumer, {
      consumer,
      writes: k.writes,
      unconditional: k.unconditional,
      overlapping: k.overlapping,
    });
  }
  if (from < w.until) {
    const writes = await log.analytics.writes(from - OVERLAP_MS, w.until + OVERLAP_MS);
    for (const c of writeCounts(writes, from, w.until)) {
      const item = by.get(c.consumer);
      if (!item) by.set(c.consumer, c);
      else {
        item.writes += c.writes;
        item.unconditional += c.unconditional;
        item.overlapping += c.overlapping;
      }
    }
  }
  const items = [...by.values()].sort(
    (a, b) => b.overlapping - a.overlapping || b.unconditional - a.unconditional || b.writes - a.writes,
  );
  return { items, ...shown(r.error, ['writes', 'unconditional', 'overlapping']) };
}

/** `GET /analytics/retries`: per consumer, its retries, those before `Retry-After`, and the blind ones. */
export async function retries(
  log: CallLog,
  w: Window,
  now: number,
): Promise<{ items: RetryItem[]; error?: ReportError }> {
  const r = await rolled(log, 'consumer', w, now, 'rolledTo');
  const from = r.rawFrom;
  const by = new Map<string | null, RetryItem>();
  for (const k of r.keys.values()) {
    if (k.retries === 0) continue;
    const consumer = k.key === '' ? null : k.key;
    by.set(consumer, { consumer, retries: k.retries, early: k.early, blind: k.blind });
  }
  if (from < w.until)
    for (const c of await log.analytics.retries(from, w.until)) {
      const item = by.get(c.consumer);
      if (!item) by.set(c.consumer, { ...c });
      else {
        item.retries += c.retries;
        item.early += c.early;
        item.blind += c.blind;
      }
    }
  const items = [...by.values()].sort(
    (a, b) => b.retries - a.retries || b.early - a.early || b.blind - a.blind,
  );
  return { items, ...shown(r.error, ['retries', 'early', 'blind']) };
}
