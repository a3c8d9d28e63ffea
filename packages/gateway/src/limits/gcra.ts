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

/**
 * {@link gcra} in Lua, for Redis (limits/redis.ts), line for line the same arithmetic (Lua numbers
 * are doubles, as JavaScript's are), so that one decision is one atomic script. The two are kept
 * in step by one table of cases run against both (limits/redis.test.ts).
 *
 * KEYS[1] is the subject's bucket, holding its `tat` in milliseconds. ARGV is `limit`, `windowMs`
 * and `now`; an empty `now` means Redis's own clock (`TIME`), so gateway processes whose clocks
 * disagree still share one timeline. An allowed request stores the new `tat` with a time to live
 * of `tat - now`, the time until the bucket is full again, when an absent key means the same thing;
 * a refused request writes nothing. The answer is `{allowed (1 or 0), remaining, resetSeconds}`.
 */
export const GCRA_LUA = `
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
local tat = tonumber(redis.call('GET', KEYS[1]))
local interval = windowMs / limit
local base = math.max(tat or now, now)
local nxt = base + interval
local allowAt = nxt - windowMs
if allowAt > now then
  return {0, 0, math.max(1, math.ceil((allowAt - now) / 1000))}
end
local remaining = math.floor((windowMs - (nxt - now)) / interval + 1e-9)
redis.call('SET', KEYS[1], string.format('%.17g', nxt), 'PX', math.ceil(nxt - now))
return {1, math.max(0, remaining), math.ceil((nxt - now) / 1000)}
`;
