import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isProblemCode } from '@truce/protocol';
import type { CallRecord } from '../calls/record.js';
import type { Upstream } from '../proxy/upstream.js';

/** Counters of the call log, read when metrics are scraped. */
export interface LogCounters {
  readonly written: number;
  readonly dropped: number;
  readonly deleted: number;
}

/**
 * The gateway's Prometheus metrics (SPEC 5.4). Labels are only route, method, status class, code
 * and target, each from a bounded set: routes and targets come from the configuration, methods are
 * folded to the standard ones, and a problem `code` an upstream invents is counted as `other`.
 * Never a resource key, a consumer or a request id.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status' | 'code' | 'target'>;
  private readonly duration: Histogram<'route' | 'method' | 'status'>;
  private readonly rateLimit: Counter<'route' | 'decision'>;
  private readonly conflicts: Counter<'route' | 'status' | 'code'>;
  private readonly guard: Counter<'route' | 'decision'>;

  constructor(upstreams: ReadonlyMap<string, Upstream>, log: () => LogCounters) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'truce_gateway_requests_total',
      help: 'Calls through the proxy.',
      labelNames: ['route', 'method', 'status', 'code', 'target'],
      registers,
    });
    this.duration = new Histogram({
      name: 'truce_gateway_request_duration_seconds',
      help: 'Time from the request to the end of the answer, at the gateway.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.rateLimit = new Counter({
      name: 'truce_gateway_rate_limit_decisions_total',
      help: 'Rate-limit decisions, by route and outcome (allowed or limited).',
      labelNames: ['route', 'decision'],
      registers,
    });
    this.conflicts = new Counter({
      name: 'truce_gateway_conflicts_total',
      help: 'Conflicts (409, 412, 423, 428) answered through the proxy, by route, exact status and problem code.',
      labelNames: ['route', 'status', 'code'],
      registers,
    });
    this.guard = new Counter({
      name: 'truce_gateway_guard_decisions_total',
      help: 'Lost-update guard decisions on PUT, PATCH and DELETE of warn and enforce routes: passed (conditional), warned (let through, marked) or refused (428).',
      labelNames: ['route', 'decision'],
      registers,
    });
    new Gauge({
      name: 'truce_gateway_upstream_target_healthy',
      help: '1 when the target is in rotation (healthy and not ejected), else 0.',
      labelNames: ['upstream', 'target'],
      registers,
      collect() {
        for (const upstream of upstreams.values()) {
          for (const target of upstream.targets) {
            this.set({ upstream: upstream.name, target: target.origin }, target.state().healthy ? 1 : 0);
          }
        }
      },
    });
    const logCounter = (name: string, help: string, pick: (c: LogCounters) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(pick(log()));
        },
      });
    logCounter(
      'truce_gateway_call_log_written',
      'Call records written to the log since start.',
      (c) => c.written,
    );
    logCounter(
      'truce_gateway_call_log_dropped',
      'Call records dropped because the log fell behind, since start.',
      (c) => c.dropped,
    );
    logCounter(
      'truce_gateway_call_log_deleted',
      'Call records deleted by retention, since start.',
      (c) => c.deleted,
    );
  }

  /** Counts a finished call. */
  observe(call: CallRecord): void {
    const route = call.route ?? 'none';
    const method = METHODS.has(call.method) ? call.method : 'OTHER';
    const status = `${Math.floor(call.status / 100)}xx`;
    const code = call.code === null ? '' : isProblemCode(call.code) ? call.code : 'other';
    this.requests.inc({ route, method, status, code, target: call.target ?? 'none' });
    this.duration.observe({ route, method, status }, call.durationMs / 1000);
    if (CONFLICTS.has(call.status)) this.conflicts.inc({ route, status: String(call.status), code });
  }

  rateLimited(route: string, allowed: boolean): void {
    this.rateLimit.inc({ route, decision: allowed ? 'allowed' : 'limited' });
  }

  /** Counts a lost-update guard decision; `route` is a configured route's name. */
  guarded(route: string, decision: GuardDecision): void {
    this.guard.inc({ route, decision });
  }

  /** The text exposition format. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** What the lost-update guard did with a write (SPEC 5.2). */
export type GuardDecision = 'passed' | 'warned' | 'refused';

/** SPEC 5.4's conflicts: four statuses, so the label stays bounded. */
const CONFLICTS = new Set([409, 412, 423, 428]);
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
