/**
 * Token budgets of AI routes (`tokensPerMinute`, docs/ai.md). A call's tokens are known only when
 * it ends, so the budget is a bucket that may go into debt: a call is let in while the bucket holds
 * at least one token, its tokens are taken when it ends, and the calls after it wait until the
 * bucket has refilled past the debt. The bucket holds a minute's tokens and refills evenly, which
 * is GCRA with a cost per call that is known late: `tat` is the time at which the bucket will be
 * full again.
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

/** Where budgets are kept; one process (memory) for now, shared ones implement the same two calls. */
export interface TokenBudget {
  peek(key: string, perMinute: number, now: number): TokenDecision;
  spend(key: string, tokens: number, perMinute: number, now: number): TokenDecision;
}

const WINDOW_MS = 60_000;

/** Budgets kept in this process. Exact for one gateway process. */
export class MemoryTokenBudget implements TokenBudget {
  readonly #tat = new Map<string, number>();

  peek(key: string, perMinute: number, now: number): TokenDecision {
    return decide(this.#tat.get(key) ?? now, perMinute, now);
  }

  spend(key: string, tokens: number, perMinute: number, now: number): TokenDecision {
    const perToken = WINDOW_MS / perMinute;
    const tat = Math.max(this.#tat.get(key) ?? now, now) + Math.max(0, tokens) * perToken;
    this.#tat.set(key, tat);
    if (this.#tat.size > 10_000) this.#sweep(now);
    return decide(tat, perMinute, now);
  }

  /** Full buckets hold nothing worth keeping. */
  #sweep(now: number): void {
    for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key);
  }
}

function decide(tat: number, perMinute: number, now: number): TokenDecision {
  const perToken = WINDOW_MS / perMinute;
  const used = Math.max(0, tat - now);
  const left = Math.floor((WINDOW_MS - used) / perToken);
  return {
    allowed: left >= 1,
    remaining: Math.max(0, left),
    resetSeconds: Math.ceil(used / 1000),
    retryAfter: left >= 1 ? 0 : Math.max(1, Math.ceil((used - WINDOW_MS + perToken) / 1000)),
  };
}
