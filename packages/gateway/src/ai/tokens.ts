/**
 * Token budgets of AI routes (`tokensPerMinute`, docs/ai.md). A call's tokens are known only when
 * it ends, so the budget is a bucket that may go into debt: a call is let in while the bucket holds
 * at least one token, its tokens are taken when it ends, and the calls after it wait until the
 * bucket has refilled past the debt. The bucket holds a minute's tokens and refills evenly, which
 * is GCRA with a cost per call that is known late: `tat` is the time at which the bucket will be
 * full again, and `tat - now` is how much of the minute is used.
 *
 * Two stores keep `tat`: this process ({@link MemoryTokenBudget}), and Redis when
 * `rateLimitStore` is `redis://` (limits/redis.ts, with {@link TOKENS_LUA}), shared by every
 * gateway process. Both turn the used time into a decision with {@link tokenDecision}.
 */

/** What a budget says about one subject now. */
export interface TokenDecision {
  /** At least one token is left. */
  readonly allowed: boolean;
  /** Tokens left, never below 0 (the debt shows in `resetSeconds`). */
  readonly remaining: number;
  /** Seconds until the bucket is full again. */
  readonly resetSeconds: number;
  /** When refused: seconds until one token is back. */
  readonly retryAfter: number;
}

/** Where budgets are kept: per route and subject (a consumer or a client address). */
export interface TokenBudget {
  /** The budget now, changing nothing. */
  peek(route: string, subject: string, perMinute: number, now: number): Promise<TokenDecision>;
  /** Takes `tokens` (going into debt if need be), and answers the budget after that. */
  spend(
    route: string,
    subject: string,
    tokens: number,
    perMinute: number,
    now: number,
  ): Promise<TokenDecision>;
}

export const WINDOW_MS = 60_000;

/** Budgets kept in this process. Exact for one gateway process. */
export class MemoryTokenBudget implements TokenBudget {
  readonly #tat = new Map<string, number>();

  async peek(route: string, subject: string, perMinute: number, now: number): Promise<TokenDecision> {
    return tokenDecision((this.#tat.get(`${route}\u0000${subject}`) ?? now) - now, perMinute);
  }

  async spend(
    route: string,
    subject: string,
    tokens: number,
    perMinute: number,
    now: number,
  ): Promise<TokenDecision> {
    const key = `${route}\u0000${subject}`;
    const tat = Math.max(this.#tat.get(key) ?? now, now) + cost(tokens) * (WINDOW_MS / perMinute);
    this.#tat.set(key, tat);
    if (this.#tat.size > 10_000) this.#sweep(now);
    return tokenDecision(tat - now, perMinute);
  }

  /** Full buckets hold nothing worth keeping. */
  #sweep(now: number): void {
    for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key);
  }
}

/** Tokens a call is charged: a count reported by a provider, never negative or non-finite. */
export function cost(tokens: number): number {
  return Number.isFinite(tokens) && tokens > 0 ? tokens : 0;
}

/** The decision for a bucket of which `usedMs` of the minute's refill is outstanding. */
export function tokenDecision(usedMs: number, perMinute: number): TokenDecision {
  const perToken = WINDOW_MS / perMinute;
  const used = Math.max(0, usedMs);
  const left = Math.floor((WINDOW_MS - used) / perToken);
  return {
    allowed: left >= 1,
    remaining: Math.max(0, left),
    resetSeconds: Math.ceil(used / 1000),
    retryAfter: left >= 1 ? 0 : Math.max(1, Math.ceil((used - WINDOW_MS + perToken) / 1000)),
  };
}

/**
 * The token bucket in Lua, for Redis: one atomic script per peek or spend, so that gateway
 * processes sharing a Redis share one budget. KEYS[1] holds the subject's `tat` in milliseconds.
 * ARGV is `perMinute`, `tokens` (empty for a peek) and `now` (empty for Redis's own clock, as the
 * rate limiter's script does). A spend stores the new `tat` with a time to live of `tat - now`,
 * after which an absent key means the same thing: a full bucket. The answer is the used time,
 * `max(0, tat - now)`, as a string (Redis would cut a Lua number to an integer), which
 * {@link tokenDecision} turns into a decision exactly as for the memory store.
 */
export const TOKENS_LUA = `
local perMinute = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tokens and tokens > 0 then
  tat = math.max(tat, now) + tokens * (${WINDOW_MS} / perMinute)
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil(tat - now))
end
return string.format('%.17g', math.max(0, tat - now))
`;
