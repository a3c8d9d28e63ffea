import type { Page } from '../store/types.js';
import type { Histogram } from './histogram.js';
import type { LifecycleUsage } from './lifecycle-rollups.js';
import type { KeyRollups } from './key-rollup-drivers.js';
import type { CallRecord, CallSink } from './record.js';

/** Filters of `GET /calls` (SPEC 5.4). */
export interface CallQuery {
  readonly route?: string | undefined;
  /** An exact status, or a class (`4`) from `4xx`. */
  readonly status?: { readonly exact: number } | { readonly class: number } | undefined;
  readonly code?: string | undefined;
  readonly consumer?: string | undefined;
  readonly resource?: string | undefined;
  /** AI calls whose model or alias is this. */
  readonly model?: string | undefined;
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly cursor?: string | undefined;
}

/** A stored call as the admin API shows it. */
export type StoredCall = Record<string, unknown>;

/** Counters the metrics show. */
export interface CallLogStats {
  written: number;
  dropped: number;
  deleted: number;
}

/** One route's calls in one minute or hour: counts by status and code, and a latency histogram. */
export interface Rollup {
  /** The start of the minute or hour. */
  readonly minute: number;
  readonly calls: number;
  readonly byStatus: Record<string, number>;
  readonly byCode: Record<string, number>;
  readonly latency: Histogram;
}

/**
 * The call log of SPEC 5.3, whatever holds it (SQLite or PostgreSQL). `push` only queues and never
 * waits or throws: batches are written off the request path, and when the store falls behind or is
 * down, records are dropped and counted in `stats.dropped`. Retention runs on a timer, by age and by
 * `maxCalls`; roll-ups per route and minute add up across every process writing to one store.
 */
export interface CallLog extends CallSink {
  readonly stats: CallLogStats;
  /** The reads of raw calls the analytics API makes. */
  readonly analytics: CallAnalytics;
  /** Roll-ups per resource, route and consumer, for the reports past the raw calls (key-rollups.ts). */
  readonly keys: KeyRollups;
  push(record: CallRecord): void;
  /** Writes what is queued now (what was queued before the call, at least). */
  flush(): Promise<void>;
  /** `GET /calls`: records without headers and bodies, newest or oldest first, by cursor. */
  query(q: CallQuery): Promise<Page<StoredCall>>;
  /** `GET /calls/{id}`: one call with its headers and bodies. */
  get(id: string): Promise<StoredCall | undefined>;
  /**
   * Roll-ups of one route (or every route, one item per route and period) starting in [since,
   * until): per minute, or with `span: HOUR` per hour (the same counts, written with the minutes).
   * With `codes: false`, `byCode` is left empty and not read.
   */
  rollups(route: string | undefined, since: number, until: number, read?: RollupRead): Promise<Rollup[]>;
  /** The calls the minute roll-ups count in [since, until), summed in the store. */
  rolledCalls(route: string | undefined, since: number, until: number): Promise<number>;
  /**
   * Calls to lifecycle routes by route and consumer, from their per-minute roll-ups in
   * [since, until) (whole minutes), in no particular order.
   */
  lifecycleUsage(since: number, until: number): Promise<LifecycleUsage[]>;
  /**
   * Rolls up per key what has closed, then deletes raw calls past their age or past `maxCalls`, and
   * roll-ups past theirs, in slices.
   */
  enforceRetention(): Promise<void>;
  /** Raw calls stored, for tests and metrics. */
  count(): Promise<number>;
  /** Flushes what is queued and lets go of the store. */
  close(): Promise<void>;
}

/** Which roll-ups `rollups` reads: per minute (the default) or per hour, with or without codes. */
export interface RollupRead {
  readonly span?: 'minute' | 'hour';
  readonly codes?: boolean;
}

/** Raw calls of one bucket `start + i·step` as `rawBuckets` counts them, with true percentiles. */
export interface RawBucket {
  readonly start: number;
  readonly calls: number;
  readonly byStatus: Record<string, number>;
  readonly byCode: Record<string, number>;
  /** Nearest-rank percentiles of the bucket's durations (p50, p95, p99), from the store. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/** One key of `GET /analytics/hotspots` as the store counts it. */
export interface HotspotRow {
  readonly key: string;
  readonly conflicts: number;
  readonly calls: number;
  readonly byCode: Record<string, number>;
  readonly lastAt: number;
}

/** A write (POST, PUT, PATCH, DELETE), for the `unconditional` report. */
export interface WriteRow {
  readonly consumer: string | null;
  readonly resource: string | null;
  readonly time: number;
  readonly status: number;
  readonly conditional: boolean;
}

/** One consumer's retries (records with `retryOf`), for the `retries` report. */
export interface RetryRow {
  readonly consumer: string | null;
  readonly retries: number;
  readonly early: number;
  readonly blind: number;
}

/** What `GET /analytics/usage` groups AI calls by: consumer, route, and model (provider and model). */
export type UsageKey = 'consumer' | 'route' | 'model';

/** One group of AI calls as the store sums them; keys not grouped by are null. */
export interface UsageRow {
  readonly consumer: string | null;
  readonly route: string | null;
  readonly provider: string | null;
  readonly model: string | null;
  readonly calls: number;
  /** Calls answered 5xx. */
  readonly errors: number;
  readonly tokensIn: number;
  readonly tokensOut: number;
  /** The priced calls' cost; calls without a price count 0 here and 1 in `unpriced`. */
  readonly cost: number;
  readonly unpriced: number;
}

/** The reads the analytics API (SPEC 5.4) makes of raw calls, in [since, until). */
export interface CallAnalytics {
  /** The oldest raw call still kept, or null when there is none. */
  oldest(): Promise<number | null>;
  /**
   * The raw calls of [since, until) in buckets of `step` ms from `origin`, counted and their
   * percentiles taken in the store, so no raw call goes through the driver. Empty buckets are left out.
   */
  rawBuckets(
    route: string | undefined,
    since: number,
    until: number,
    origin: number,
    step: number,
  ): Promise<RawBucket[]>;
  /** Keys with conflicts, most first (then by key), at most `limit`. */
  hotspots(
    by: 'resource' | 'route' | 'consumer',
    since: number,
    until: number,
    limit: number,
  ): Promise<HotspotRow[]>;
  /** Writes in time order. */
  writes(since: number, until: number): Promise<WriteRow[]>;
  /** Per consumer, its unconditional writes in the window that overlap another consumer's (SPEC 5.6). */
  overlapping(since: number, until: number): Promise<{ consumer: string | null; overlapping: number }[]>;
  retries(since: number, until: number): Promise<RetryRow[]>;
  /** AI calls (those with `ai`) summed per group of `by`, optionally of one route and consumer; in no order. */
  usage(
    by: readonly UsageKey[],
    since: number,
    until: number,
    filter: { readonly route?: string | undefined; readonly consumer?: string | undefined },
  ): Promise<UsageRow[]>;
}
