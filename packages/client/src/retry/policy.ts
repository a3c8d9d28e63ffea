/**
 * Retry and conflict-round policies (SPEC 4) as plain data, and the small functions that turn them
 * into delays. The loops that apply them are in http/transport.ts and update/update.ts.
 */

/** When and how a failed request is sent again. Every member is optional in {@link ClientOptions}. */
export interface RetryPolicy {
  /** Attempts in all, the first included (SPEC 4: 3). `1` turns retries off. */
  readonly attempts: number;
  /** Backoff base in milliseconds for network errors and most statuses (100). */
  readonly baseMs: number;
  /** Backoff base for the statuses in `slowStatuses` (500). */
  readonly slowBaseMs: number;
  /** No backoff is longer, and a `Retry-After` longer than this ends the retries (20 s). */
  readonly capMs: number;
  /** Statuses that are transient: 408, 429, 500, 502, 503, 504. */
  readonly statuses: readonly number[];
  /** Statuses whose backoff starts at `slowBaseMs`: 429, 503. */
  readonly slowStatuses: readonly number[];
}

/** SPEC 4's retry policy. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 3,
  baseMs: 100,
  slowBaseMs: 500,
  capMs: 20_000,
  statuses: Object.freeze([408, 429, 500, 502, 503, 504]),
  slowStatuses: Object.freeze([429, 503]),
});

/**
 * How `update` paces its conflict rounds (SPEC 4: at most 5 rounds, jittered backoff from 50 ms
 * doubling to 1 s). Conflicts are not transient failures: each round is a new request built on the
 * current state, so these rounds have their own budget apart from {@link RetryPolicy}.
 */
export interface ConflictPolicy {
  /** Writes in all before `update` gives up with `TruceConflictError` (5). */
  readonly rounds: number;
  /** Backoff before the second round (50 ms); it doubles each round. */
  readonly baseMs: number;
  /** The longest backoff between rounds (1 s). */
  readonly capMs: number;
}

/** SPEC 4's conflict-round policy. */
export const DEFAULT_CONFLICT_POLICY: ConflictPolicy = Object.freeze({ rounds: 5, baseMs: 50, capMs: 1000 });

/**
 * Full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015): a uniformly random
 * delay between 0 and `min(cap, base * 2^(retry - 1))`. `retry` counts from 1 (the wait before the
 * second attempt). Spreading the retries of many clients over the whole window is what keeps them
 * from arriving together again.
 */
export function fullJitter(baseMs: number, capMs: number, retry: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** The backoff before retry number `retry` after `status` (undefined: a network error). */
export function backoffFor(
  policy: RetryPolicy,
  retry: number,
  status: number | undefined,
  random: () => number,
): number {
  const base =
    status !== undefined && policy.slowStatuses.includes(status) ? policy.slowBaseMs : policy.baseMs;
  return fullJitter(base, policy.capMs, retry, random);
}
