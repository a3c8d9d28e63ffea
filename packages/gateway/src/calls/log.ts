import type { Page } from '../store/types.js';
import type { Histogram } from './histogram.js';
import type { CallRecord, CallSink } from './record.js';

/** Filters of `GET /calls` (SPEC 5.4). */
export interface CallQuery {
  readonly route?: string | undefined;
  /** An exact status, or a class (`4`) from `4xx`. */
  readonly status?: { readonly exact: number } | { readonly class: number } | undefined;
  readonly code?: string | undefined;
  readonly consumer?: string | undefined;
  readonly resource?: string | undefined;
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

/** One route's calls in one minute: counts by status and code, and a latency histogram. */
export interface Rollup {
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
  push(record: CallRecord): void;
  /** Writes what is queued now (what was queued before the call, at least). */
  flush(): Promise<void>;
  /** `GET /calls`: records without headers and bodies, newest or oldest first, by cursor. */
  query(q: CallQuery): Promise<Page<StoredCall>>;
  /** `GET /calls/{id}`: one call with its headers and bodies. */
  get(id: string): Promise<StoredCall | undefined>;
  /** Roll-ups of one route (or every route, one item per route and minute) in [since, until). */
  rollups(route: string | undefined, since: number, until: number): Promise<Rollup[]>;
  /** Deletes raw calls past their age or past `maxCalls`, and roll-ups past theirs, in slices. */
  enforceRetention(): Promise<void>;
  /** Raw calls stored, for tests and metrics. */
  count(): Promise<number>;
  /** Flushes what is queued and lets go of the store. */
  close(): Promise<void>;
}
