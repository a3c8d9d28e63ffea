import { addTo, merge, type Histogram } from '../calls/histogram.js';

/** Statuses that count as conflicts (SPEC 5.4): 409, 412, 423 and 428. */
export const CONFLICT_STATUSES: ReadonlySet<number> = new Set([409, 412, 423, 428]);

/**
 * Most distinct resource keys one bucket counts conflicts for. A hotspot is a resource that keeps
 * conflicting, so it is seen early in every bucket; past this many keys in one bucket, further keys
 * are left out of that bucket (their calls still count), which keeps a storm over random keys from
 * growing memory without bound.
 */
export const MAX_KEYS_PER_BUCKET = 1_000;

/** Most buckets a window keeps: per second up to a 1 h window, wider buckets beyond. */
const MAX_BUCKETS = 3_600;

/** What a window needs of a finished call. */
export interface WindowCall {
  readonly status: number;
  readonly durationMs: number;
  readonly resource: string | null;
}

/** What a window holds right now. */
export interface WindowTotals {
  readonly calls: number;
  readonly conflicts: number;
  readonly errors: number;
  /** Present when the window keeps latencies. */
  readonly latency: Histogram | undefined;
  /** The resource with most conflicts, when the window keeps them and there was one. */
  readonly hottest: { readonly resource: string; readonly conflicts: number } | undefined;
}

interface Bucket {
  slot: number;
  calls: number;
  conflicts: number;
  errors: number;
  latency: Histogram | undefined;
  hot: Map<string, number> | undefined;
}

/**
 * A sliding window of call counts in a ring of time buckets (one per second for windows up to an
 * hour): memory is bounded by the number of buckets, never by the number of calls. The window at
 * `now` is the bucket `now` falls in and the ones before it, covering `windowMs` to within one
 * bucket. Latencies go into a mergeable histogram per bucket (±5%, calls/histogram.ts).
 */
export class SlidingWindow {
  readonly bucketMs: number;
  private readonly ring: (Bucket | undefined)[];

  constructor(
    windowMs: number,
    private readonly keep: { readonly latency: boolean; readonly hotspots: boolean },
  ) {
    this.bucketMs = Math.max(1_000, Math.ceil(windowMs / MAX_BUCKETS / 1_000) * 1_000);
    this.ring = new Array<Bucket | undefined>(Math.max(1, Math.ceil(windowMs / this.bucketMs)));
  }

  /** Counts a call that ended at `at` (epoch ms); one older than the window is ignored. */
  add(call: WindowCall, at: number): void {
    const slot = Math.floor(at / this.bucketMs);
    const index = slot % this.ring.length;
    let bucket = this.ring[index];
    if (bucket === undefined || bucket.slot !== slot) {
      // A late record whose bucket was already reused for a newer second is outside the window.
      if (bucket !== undefined && bucket.slot > slot) return;
      bucket = {
        slot,
        calls: 0,
        conflicts: 0,
        errors: 0,
        latency: this.keep.latency ? {} : undefined,
        hot: this.keep.hotspots ? new Map() : undefined,
      };
      this.ring[index] = bucket;
    }
    bucket.calls++;
    if (call.status >= 500) bucket.errors++;
    if (bucket.latency) addTo(bucket.latency, call.durationMs);
    if (CONFLICT_STATUSES.has(call.status)) {
      bucket.conflicts++;
      const hot = bucket.hot;
      if (hot && call.resource !== null) {
        const seen = hot.get(call.resource);
        if (seen !== undefined) hot.set(call.resource, seen + 1);
        else if (hot.size < MAX_KEYS_PER_BUCKET) hot.set(call.resource, 1);
      }
    }
  }

  /** Sums the buckets inside the window at `now`. */
  totals(now: number): WindowTotals {
    const newest = Math.floor(now / this.bucketMs);
    const oldest = newest - this.ring.length + 1;
    let calls = 0;
    let conflicts = 0;
    let errors = 0;
    const latency: Histogram | undefined = this.keep.latency ? {} : undefined;
    const hot = this.keep.hotspots ? new Map<string, number>() : undefined;
    for (const bucket of this.ring) {
      if (bucket === undefined || bucket.slot < oldest || bucket.slot > newest) continue;
      calls += bucket.calls;
      conflicts += bucket.conflicts;
      errors += bucket.errors;
      if (latency && bucket.latency) merge(latency, bucket.latency);
      if (hot && bucket.hot) for (const [k, v] of bucket.hot) hot.set(k, (hot.get(k) ?? 0) + v);
    }
    let hottest: WindowTotals['hottest'];
    if (hot) {
      for (const [resource, n] of hot) {
        if (hottest === undefined || n > hottest.conflicts) hottest = { resource, conflicts: n };
      }
    }
    return { calls, conflicts, errors, latency, hottest };
  }
}
