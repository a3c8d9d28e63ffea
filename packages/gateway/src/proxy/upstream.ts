import { Pool } from 'undici';
import type { HealthCheckConfig, TargetConfig, UpstreamConfig } from '../config/types.js';
import { LeastConnections, RoundRobin } from './balancer.js';

/** How one target is doing, as this process sees it. */
export interface TargetState {
  readonly origin: string;
  readonly healthy: boolean;
  readonly ejectedUntil: number | undefined;
  readonly inFlight: number;
}

/** One backend server with its keep-alive connection pool and health. */
export class Target {
  readonly origin: string;
  readonly basePath: string;
  readonly weight: number;
  readonly pool: Pool;
  inFlight = 0;
  /** Active checks put a target out (false) and back (true); without checks it stays true. */
  activeHealthy = true;
  /** Passive ejection: out until this time (epoch ms). */
  ejectedUntil = 0;
  private passiveFailures = 0;
  private checksInARow = 0;

  constructor(
    config: TargetConfig,
    private readonly upstream: UpstreamConfig,
  ) {
    this.origin = config.origin;
    this.basePath = config.basePath;
    this.weight = config.weight;
    this.pool = new Pool(config.origin, {
      connect: { timeout: upstream.timeouts.connectMs },
      headersTimeout: upstream.timeouts.responseMs,
      bodyTimeout: upstream.timeouts.responseMs,
      keepAliveTimeout: 4_000,
      pipelining: 1,
    });
  }

  available(now: number): boolean {
    return this.activeHealthy && this.ejectedUntil <= now;
  }

  /** A connection error, a timeout or a 5xx: `passive.failures` in a row eject the target. */
  failed(now: number): void {
    this.passiveFailures++;
    if (this.passiveFailures >= this.upstream.passive.failures) {
      this.ejectedUntil = now + this.upstream.passive.ejectForMs;
      this.passiveFailures = 0;
    }
  }

  succeeded(): void {
    this.passiveFailures = 0;
  }

  /** One active check's outcome; `healthy`/`unhealthy` in a row switch the state. */
  checked(ok: boolean, hc: HealthCheckConfig): void {
    if (ok === this.lastCheck) this.checksInARow++;
    else this.checksInARow = 1;
    this.lastCheck = ok;
    if (ok && this.checksInARow >= hc.healthy) {
      this.activeHealthy = true;
      // SPEC 5.6: an ejected target comes back after ejectFor or `healthy` good checks, whichever is first.
      this.ejectedUntil = 0;
    }
    if (!ok && this.checksInARow >= hc.unhealthy) this.activeHealthy = false;
  }
  private lastCheck: boolean | undefined;

  state(): TargetState {
    return {
      origin: this.origin,
      healthy: this.available(Date.now()),
      ejectedUntil: this.ejectedUntil > Date.now() ? this.ejectedUntil : undefined,
      inFlight: this.inFlight,
    };
  }
}

/** A named group of targets: picks a healthy one per request and runs the active health checks. */
export class Upstream {
  readonly name: string;
  readonly targets: readonly Target[];
  private readonly balancer: RoundRobin<Target> | LeastConnections<Target>;
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(readonly config: UpstreamConfig) {
    this.name = config.name;
    this.targets = config.targets.map((t) => new Target(t, config));
    this.balancer = config.balance === 'least-connections' ? new LeastConnections() : new RoundRobin();
  }

  /** A healthy target not in `exclude` (the ones a retry already tried), or undefined when none is. */
  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    const now = Date.now();
    const candidates = this.targets.filter((t) => t.available(now) && !exclude?.has(t));
    return this.balancer.pick(candidates);
  }

  /** Starts the active health checks, when configured. */
  startChecks(): void {
    const hc = this.config.healthCheck;
    if (!hc || this.checkTimer) return;
    const run = () => {
      for (const target of this.targets) void probe(target, hc).then((ok) => target.checked(ok, hc));
    };
    run();
    this.checkTimer = setInterval(run, hc.intervalMs);
    this.checkTimer.unref();
  }

  async close(): Promise<void> {
    if (this.checkTimer) clearInterval(this.checkTimer);
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => undefined)));
  }
}

/** One active check: a GET of the check path answered 2xx or 3xx within the timeout. */
async function probe(target: Target, hc: HealthCheckConfig): Promise<boolean> {
  try {
    const res = await target.pool.request({
      method: 'GET',
      path: `${target.basePath}${hc.path}`,
      headers: { 'user-agent': 'truce-gateway-health' },
      signal: AbortSignal.timeout(hc.timeoutMs),
      headersTimeout: hc.timeoutMs,
      bodyTimeout: hc.timeoutMs,
    });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 400;
  } catch {
    return false;
  }
}
