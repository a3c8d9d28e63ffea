import type { RateDecision } from '../proxy/policies.js';

/**
 * The rate-limit algorithm (documented in docs/gateway.md): GCRA, the generic cell rate algorithm,
 * which is a token bucket of `limit` tokens refilled evenly over `window`, kept as one number per
 * subject: the theoretical arrival time (`tat`) of the next request if the bucket were drained.
 *
 * A request at `now` is allowed when `max(tat, now) + interval - window <= now`, and then moves
 * `tat` on by one interval (`window / limit`). A burst of `limit` requests passes at once; after
 * that one request per interval. A refused request changes nothing (SPEC 5.6: a 429 uses no quota).
 *
 * `remaining` is how many requests would pass right now; `resetSeconds` is, for an allowed request,
 * the time until the bucket is full again, and for a refused one the time until the next request
 * may pass (the 429's Retry-After). Both are rounded up to whole seconds, never 0 for a refusal.
 */
export function gcra(
  tat: number | undefined,
  now: number,
  limit: number,
  windowMs: number,
): { decision: RateDecision; tat: number | undefined } {
  const interval = windowMs / limit;
  const base = Math.max(tat ?? now, now);
  const next = base + interval;
  const allowAt = next - windowMs;
  if (allowAt > now) {
    return {
      decision: {
        allowed: false,
        remaining: 0,
        resetSeconds: Math.max(1, Math.ceil((allowAt - now) / 1000)),
      },
      tat,
    };
  }
  const remaining = Math.floor((windowMs - (next - now)) / interval + 1e-9);
  return {
    decision: {
      allowed: true,
      remaining: Math.max(0, remaining),
      resetSeconds: Math.ceil((next - now) / 1000),
    },
    tat: next,
  };
}
