/**
 * A mergeable latency histogram with log-spaced buckets: bucket i holds durations in
 * [BASE·GROWTH^i, BASE·GROWTH^(i+1)), so any percentile read back from it is within ±5% of the true
 * value (half a bucket's width either side of its midpoint). Buckets are kept sparse.
 */
const BASE_MS = 0.01;
const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);

/** Bucket index of a duration in ms. */
export function bucketOf(ms: number): number {
  return ms <= BASE_MS ? 0 : Math.floor(Math.log(ms / BASE_MS) / LOG_GROWTH);
}

/** The representative duration of a bucket: the geometric middle of its bounds. */
export function bucketValue(index: number): number {
  return BASE_MS * GROWTH ** (index + 0.5);
}

/** Sparse counts by bucket index. */
export type Histogram = Record<number, number>;

export function addTo(h: Histogram, ms: number): void {
  const i = bucketOf(ms);
  h[i] = (h[i] ?? 0) + 1;
}

export function merge(into: Histogram, from: Histogram): void {
  for (const [k, v] of Object.entries(from)) into[Number(k)] = (into[Number(k)] ?? 0) + v;
}

/** The q-quantile (0..1) of the histogram, or null when it is empty. */
export function quantile(h: Histogram, q: number): number | null {
  const entries = Object.entries(h)
    .map(([k, v]) => [Number(k), v] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((s, [, v]) => s + v, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [k, v] of entries) {
    seen += v;
    if (seen >= rank) return bucketValue(k);
  }
  return bucketValue(entries[entries.length - 1]![0]);
}

/** Several q-quantiles (0..1, ascending) of the histogram in one pass, null each when it is empty. */
export function quantiles(h: Histogram, qs: readonly number[]): (number | null)[] {
  const entries = Object.entries(h)
    .map(([k, v]) => [Number(k), v] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((s, [, v]) => s + v, 0);
  if (total === 0) return qs.map(() => null);
  const out: (number | null)[] = [];
  let seen = 0;
  let i = 0;
  for (const q of qs) {
    const rank = Math.max(1, Math.ceil(q * total));
    while (i < entries.length - 1 && seen + entries[i]![1] < rank) seen += entries[i++]![1];
    out.push(bucketValue(entries[i]![0]));
  }
  return out;
}
