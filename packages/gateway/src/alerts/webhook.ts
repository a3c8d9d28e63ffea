import { retryDelay, shouldRetry, type WebhookPolicy } from './retry-policy.js';

/** Outcomes of webhook deliveries, per rule, for the metrics. */
export type DeliveryOutcome = 'delivered' | 'retried' | 'failed' | 'dropped';

/** One event waiting for its webhook. */
interface Pending {
  readonly rule: string;
  readonly id: number;
  readonly body: string;
}

/**
 * Delivers alert events to one webhook URL, one at a time and in order (a resolve never overtakes
 * its fire), entirely apart from the proxy and the evaluator: `send` only queues. A dead or slow
 * receiver costs a bounded queue and one request at a time, each cut after `timeoutMs`.
 */
export class WebhookSender {
  private readonly queue: Pending[] = [];
  private running = false;
  private readonly stop = new AbortController();

  constructor(
    readonly url: string,
    private readonly policy: WebhookPolicy,
    private readonly count: (rule: string, outcome: DeliveryOutcome) => void,
  ) {}

  /** Queues an event (the oldest waiting one is dropped when the queue is full). */
  send(rule: string, id: number, body: string): void {
    if (this.stop.signal.aborted) return;
    if (this.queue.length >= this.policy.queue) {
      // The first entry may be in flight; drop the oldest one behind it.
      const [dropped] = this.queue.splice(this.running ? 1 : 0, 1);
      if (dropped) this.count(dropped.rule, 'dropped');
    }
    this.queue.push({ rule, id, body });
    if (!this.running) void this.drain();
  }

  /** Stops: the attempt in flight is cut, waiting events are let go. */
  close(): void {
    this.stop.abort();
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stop.signal.aborted) {
        const next = this.queue[0]!;
        await this.deliver(next);
        if (this.queue[0] === next) this.queue.shift();
      }
    } finally {
      this.running = false;
    }
  }

  /** Attempts one event until it is delivered, refused, or out of attempts. */
  private async deliver(event: Pending): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.attempt(event);
      if (this.stop.signal.aborted) return;
      if (answer.status !== undefined && answer.status >= 200 && answer.status < 300) {
        this.count(event.rule, 'delivered');
        return;
      }
      if (!shouldRetry(answer.status) || attempt >= this.policy.attempts) {
        this.count(event.rule, 'failed');
        return;
      }
      this.count(event.rule, 'retried');
      await sleep(retryDelay(this.policy, attempt, answer.retryAfterMs), this.stop.signal);
    }
  }

  private async attempt(event: Pending): Promise<{ status?: number; retryAfterMs?: number }> {
    const signal = AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.policy.timeoutMs)]);
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'truce-gateway',
          // Receivers may see an event twice (an answer lost after it arrived): this names it.
          'truce-alert-event': String(event.id),
        },
        body: event.body,
        redirect: 'manual',
        signal,
      });
      // The answer's body is read (and thrown away) so the connection can be reused; the timeout
      // covers it too.
      await res.arrayBuffer();
      const seconds = Number(res.headers.get('retry-after'));
      return Number.isFinite(seconds) && seconds > 0
        ? { status: res.status, retryAfterMs: seconds * 1_000 }
        : { status: res.status };
    } catch {
      return {};
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
