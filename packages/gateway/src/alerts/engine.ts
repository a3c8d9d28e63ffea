import type { CallRecord, CallSink } from '../calls/record.js';
import type { AlertConfig } from '../config/types.js';
import { DEFAULT_WEBHOOK_POLICY, type WebhookPolicy } from './retry-policy.js';
import { readMetric, transition, type AlertState, type Reading } from './rules.js';
import { WebhookSender, type DeliveryOutcome } from './webhook.js';
import { SlidingWindow } from './window.js';

/** An alert event as the webhook and the SSE stream carry it (SPEC 5.6). */
export interface AlertEvent {
  readonly event: 'fire' | 'resolve';
  readonly rule: string;
  readonly metric: AlertConfig['metric'];
  /** The rule's route, or null for a rule over every route. */
  readonly route: string | null;
  readonly value: number | null;
  readonly above: number;
  readonly samples: number;
  /** ISO 8601. */
  readonly time: string;
  /** Hotspot rules only: the resource with most conflicts in the window. */
  readonly resource?: string | null;
}

/** An event with its sequence number (the SSE `id`). */
export interface NumberedEvent {
  readonly id: number;
  readonly event: AlertEvent;
}

/** One rule as `GET /alerts` shows it. */
export interface RuleStatus {
  readonly name: string;
  readonly metric: AlertConfig['metric'];
  readonly route: string | null;
  readonly windowMs: number;
  readonly minSamples: number;
  readonly above: number;
  readonly state: AlertState;
  readonly value: number | null;
  readonly samples: number;
  /** When the rule entered its state (epoch ms; the engine's start for a rule that never fired). */
  readonly since: number;
  readonly resource?: string | null;
}

/** Timing and bounds of the alert engine; tests shorten the intervals. */
export interface AlertOptions {
  /** How often every rule is evaluated (SPEC 5.4: at least every 5 s). Default 1 s. */
  readonly evaluateMs?: number;
  readonly webhook?: Partial<WebhookPolicy>;
  /** Events kept for `?format=json` and for streams resuming with `Last-Event-ID`. Default 1,000. */
  readonly recentEvents?: number;
  /** A comment line on every stream this often. Default 15 s. */
  readonly heartbeatMs?: number;
  /** Event streams open at once. Default 100. */
  readonly maxStreams?: number;
}

interface Rule {
  readonly config: AlertConfig;
  readonly window: SlidingWindow;
  state: AlertState;
  since: number;
  reading: Reading;
  readonly outcomes: Map<DeliveryOutcome, number>;
}

/**
 * The alert rules of SPEC 5.1 over the calls the gateway finished. `push` (the call sink) only
 * counts into per-rule windows; a timer reads them every `evaluateMs` and turns crossings into
 * events, which go to the rule's webhook (queued, retried, off every request's path) and to the
 * listeners (the SSE streams). It runs in the process that writes the call log, which with
 * `workers` is the primary, so it sees every call once.
 */
export class AlertEngine implements CallSink {
  readonly options: Required<Omit<AlertOptions, 'webhook'>> & { readonly webhook: WebhookPolicy };
  private readonly rules: Rule[];
  private readonly senders = new Map<string, WebhookSender>();
  private readonly recent: NumberedEvent[] = [];
  private readonly listeners = new Set<(e: NumberedEvent) => void>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(configs: readonly AlertConfig[], options: AlertOptions = {}) {
    this.options = {
      evaluateMs: Math.min(5_000, options.evaluateMs ?? 1_000),
      recentEvents: options.recentEvents ?? 1_000,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      maxStreams: options.maxStreams ?? 100,
      webhook: { ...DEFAULT_WEBHOOK_POLICY, ...options.webhook },
    };
    const start = Date.now();
    this.rules = configs.map((config) => ({
      config,
      window: new SlidingWindow(config.windowMs, {
        latency: config.metric === 'p99',
        hotspots: config.metric === 'hotspot',
      }),
      state: 'ok',
      since: start,
      reading: { value: config.metric === 'p99' ? null : 0, samples: 0, resource: null },
      outcomes: new Map(),
    }));
  }

  /** Whether any rule is configured (with none, calls need not be fed in). */
  get active(): boolean {
    return this.rules.length > 0;
  }

  /** Counts a finished call into the windows of the rules it concerns; never blocks or throws. */
  push(record: CallRecord): void {
    // A call counts when it ended; with workers its record reaches the primary a moment later.
    const at = record.time + record.durationMs;
    for (const rule of this.rules) {
      const route = rule.config.route;
      // "Of all routes": a call no route matched (404 no-route) belongs to none of them.
      if (route === undefined ? record.route !== null : record.route === route) rule.window.add(record, at);
    }
  }

  /** Starts evaluating every `evaluateMs`. */
  start(): void {
    if (this.timer || !this.active) return;
    this.timer = setInterval(() => {
      try {
        this.evaluate();
      } catch (error) {
        // A bug here must cost alerts, never the gateway: say so and keep evaluating.
        console.error(`[gateway] alert evaluation failed: ${String(error)}`);
      }
    }, this.options.evaluateMs);
    this.timer.unref();
  }

  /** Reads every rule now and emits what changed; returns the events. */
  evaluate(now = Date.now()): NumberedEvent[] {
    const emitted: NumberedEvent[] = [];
    for (const rule of this.rules) {
      const reading = readMetric(rule.config.metric, rule.window.totals(now));
      rule.reading = reading;
      const change = transition(rule.state, reading, rule.config);
      if (change === undefined) continue;
      rule.state = change === 'fire' ? 'firing' : 'ok';
      rule.since = now;
      emitted.push(this.emit(rule, change, reading, now));
    }
    return emitted;
  }

  /** Every rule with its state, from the last evaluation. */
  statuses(): RuleStatus[] {
    return this.rules.map((r) => ({
      name: r.config.name,
      metric: r.config.metric,
      route: r.config.route ?? null,
      windowMs: r.config.windowMs,
      minSamples: r.config.minSamples,
      above: r.config.above,
      state: r.state,
      value: r.reading.value,
      samples: r.reading.samples,
      since: r.since,
      ...(r.config.metric === 'hotspot' ? { resource: r.reading.resource } : {}),
    }));
  }

  /** Webhook outcomes per rule, for the metrics. */
  deliveries(): { rule: string; outcome: DeliveryOutcome; count: number }[] {
    return this.rules.flatMap((r) =>
      [...r.outcomes].map(([outcome, count]) => ({ rule: r.config.name, outcome, count })),
    );
  }

  /** The recent events, oldest first. */
  events(): readonly NumberedEvent[] {
    return this.recent;
  }

  /** The newest sequence number given out (0 before the first event). */
  get lastId(): number {
    return this.seq;
  }

  /** Calls `listener` with every event from now on; returns the function that stops it. */
  subscribe(listener: (e: NumberedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops evaluating, and lets go of queued webhook deliveries. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const sender of this.senders.values()) sender.close();
    this.listeners.clear();
  }

  private emit(rule: Rule, change: 'fire' | 'resolve', reading: Reading, now: number): NumberedEvent {
    const event: AlertEvent = {
      event: change,
      rule: rule.config.name,
      metric: rule.config.metric,
      route: rule.config.route ?? null,
      value: reading.value,
      above: rule.config.above,
      samples: reading.samples,
      time: new Date(now).toISOString(),
      ...(rule.config.metric === 'hotspot' ? { resource: reading.resource } : {}),
    };
    const numbered = { id: ++this.seq, event };
    this.recent.push(numbered);
    if (this.recent.length > this.options.recentEvents) this.recent.shift();
    const url = rule.config.webhook;
    if (url !== undefined) this.sender(url).send(rule.config.name, numbered.id, JSON.stringify(event));
    for (const listener of this.listeners) {
      try {
        listener(numbered);
      } catch {
        // One broken stream must not keep the event from the others.
      }
    }
    return numbered;
  }

  /** One sender per URL, so events to one receiver arrive in the order they happened. */
  private sender(url: string): WebhookSender {
    let sender = this.senders.get(url);
    if (!sender) {
      sender = new WebhookSender(url, this.options.webhook, (name, outcome) => {
        const rule = this.rules.find((r) => r.config.name === name);
        rule?.outcomes.set(outcome, (rule.outcomes.get(outcome) ?? 0) + 1);
      });
      this.senders.set(url, sender);
    }
    return sender;
  }
}

/** A sink that feeds the call log and the alert engine (the log alone when no rule is set). */
export function withAlerts(sink: CallSink, engine: AlertEngine): CallSink {
  if (!engine.active) return sink;
  return {
    push(record) {
      sink.push(record);
      engine.push(record);
    },
  };
}
