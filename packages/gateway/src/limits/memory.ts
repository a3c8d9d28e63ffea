import type { RouteConfig } from '../config/types.js';
import type { RateDecision, RateLimiter } from '../proxy/policies.js';
import { gcra } from './gcra.js';

/**
 * The in-memory limiter: exact within one process, since every decision is one synchronous step of
 * the event loop. Subjects whose bucket is full again are swept, so memory follows the number of
 * subjects active within a window, not all that were ever seen.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly tats = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepEveryMs = 10_000) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), sweepEveryMs);
    this.sweeper.unref();
  }

  take(route: RouteConfig, subject: string, now: number): RateDecision {
    const limit = route.rateLimit!;
    const key = `${route.name}\u0000${subject}`;
    const { decision, tat } = gcra(this.tats.get(key), now, limit.limit, limit.windowMs);
    if (tat !== undefined) this.tats.set(key, tat);
    return decision;
  }

  /** Forgets subjects whose bucket is full again: they would start from a full bucket anyway. */
  sweep(now: number): void {
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
