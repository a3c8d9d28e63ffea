import type { RouteConfig } from '../config/types.js';

/** Who a request is, once its key was checked. */
export interface Consumer {
  readonly id: string;
  readonly name: string;
}

/**
 * Key authentication and subscriptions (SPEC 5.4). `authenticate` answers the consumer a key
 * belongs to, or throws the gateway's 401/403 problem. It is asked on every request of an
 * `auth: key` route, so that a revoked subscription or a deleted key stops the very next request.
 */
export interface AccessControl {
  authenticate(route: RouteConfig, key: string | undefined): Consumer | Promise<Consumer>;
}

/** One rate-limit decision. */
export interface RateDecision {
  readonly allowed: boolean;
  /** Requests left in the window after this one. */
  readonly remaining: number;
  /** Seconds until the window frees quota again. */
  readonly resetSeconds: number;
}

/** A rate limiter: one atomic decision per request, per route and subject (consumer or address). */
export interface RateLimiter {
  take(route: RouteConfig, subject: string, now: number): RateDecision | Promise<RateDecision>;
  close?(): Promise<void>;
}
