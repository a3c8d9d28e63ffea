/*
 * Per-key counts and the top-K cut the key roll-ups keep (calls/key-rollups.ts). Each period (a
 * minute, then an hour) keeps the K keys with the most conflicts (then calls, then by key) and, for
 * every counted field, the largest value among the keys it dropped: its error. A key's count over a
 * window is then never more than the truth and at most the sum of the periods' errors less, and a
 * period's error is at most its total / (K + 1), since K + 1 keys had at least that much.
 */

/** The counts kept per key and period, in the order of their SQL columns. */
export const FIELDS = [
  'calls',
  'conflicts',
  'writes',
  'unconditional',
  'overlapping',
  'retries',
  'early',
  'blind',
] as const;
export type Field = (typeof FIELDS)[number];
export type Counts = Record<Field, number>;

/** One key's counts in one period (or summed over several). */
export interface KeyCounts extends Counts {
  key: string;
  /** The time of its last conflict, or null. */
  lastAt: number | null;
  /** Conflicts by problem `code` (the status when there was none). */
  byCode: Record<string, number>;
}

export function zeroCounts(): Counts {
  return {
    calls: 0,
    conflicts: 0,
    writes: 0,
    unconditional: 0,
    overlapping: 0,
    retries: 0,
    early: 0,
    blind: 0,
  };
}

export function emptyKey(key: string): KeyCounts {
  return { key, ...zeroCounts(), lastAt: null, byCode: {} };
}

/** Adds `from` into `into`, field by field, codes by code. */
export function addKey(into: KeyCounts, from: KeyCounts): void {
  addCounts(into, from);
  if (from.lastAt !== null && (into.lastAt === null || from.lastAt > into.lastAt)) into.lastAt = from.lastAt;
  for (const [code, n] of Object.entries(from.byCode)) into.byCode[code] = (into.byCode[code] ?? 0) + n;
}

export function addCounts(into: Counts, from: Counts): void {
  for (const f of FIELDS) into[f] += from[f];
}

/** Most conflicts first, then most calls, then by key: the order hotspots answer in. */
export function byConflicts(a: KeyCounts, b: KeyCounts): number {
  return b.conflicts - a.conflicts || b.calls - a.calls || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * The `k` keys that rank first by {@link byConflicts}, and the error of the cut: per field, the
 * largest count among the keys left out (0 when none was). The roll-up steps make this cut in SQL
 * (calls/key-rollups.ts: ORDER BY conflicts, calls, key; the error as max over the rest, the key
 * order by the store's collation); this is its reference, whose bounds the property test checks.
 */
export function topK(rows: readonly KeyCounts[], k: number): { kept: KeyCounts[]; error: Counts } {
  const sorted = [...rows].sort(byConflicts);
  const error = zeroCounts();
  for (const dropped of sorted.slice(k)) for (const f of FIELDS) error[f] = Math.max(error[f], dropped[f]);
  return { kept: sorted.slice(0, k), error };
}
