/** How alert webhooks are delivered: plain data, applied by {@link WebhookSender}. */
export interface WebhookPolicy {
  /** Attempts per event, the first included; after the last failure the event is dropped. */
  readonly attempts: number;
  /** Wait before the second attempt; each later wait is `factor` times the one before. */
  readonly firstDelayMs: number;
  readonly factor: number;
  /** No wait is longer than this (a `Retry-After` the receiver sends is capped by it too). */
  readonly maxDelayMs: number;
  /** Each attempt, from the request to the end of the answer's body. */
  readonly timeoutMs: number;
  /** Events waiting per webhook URL; past this the oldest waiting one is dropped. */
  readonly queue: number;
}

/** Defaults: 8 attempts over about 2 minutes (1, 2, 4, 8, 16, 32, 60 s between them). */
export const DEFAULT_WEBHOOK_POLICY: WebhookPolicy = {
  attempts: 8,
  firstDelayMs: 1_000,
  factor: 2,
  maxDelayMs: 60_000,
  timeoutMs: 5_000,
  queue: 1_000,
};

/** The wait after failed attempt `n` (1 = the first), honouring a receiver's `Retry-After` in ms. */
export function retryDelay(policy: WebhookPolicy, n: number, retryAfterMs?: number): number {
  const backoff = policy.firstDelayMs * policy.factor ** (n - 1);
  return Math.min(policy.maxDelayMs, Math.max(backoff, retryAfterMs ?? 0));
}

/**
 * Whether an answer is worth another attempt: no answer at all (connection failure, timeout),
 * 408, 429 or a 5xx. Any other status is the receiver's final word: 2xx delivered it, and a 4xx
 * says that repeating the same request will not help.
 */
export function shouldRetry(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}
