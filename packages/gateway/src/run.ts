import type { FastifyInstance } from 'fastify';
import { startAdmin } from './admin/start.js';
import { AlertEngine, withAlerts, type AlertOptions } from './alerts/engine.js';
import { registerAlertMetrics } from './alerts/metrics.js';
import { StoreAccessControl } from './auth/keys.js';
import type { CallLog } from './calls/log.js';
import type { GatewayConfig, ListenAddress } from './config/types.js';
import { createGateway, type Gateway } from './gateway.js';
import { openStorage } from './storage/open.js';
import { RedisRateLimiter } from './limits/redis.js';
import type { GatewayStore } from './store/types.js';

/** A gateway with its store, call log and admin API, as `truce gateway` runs it. */
export interface RunningGateway {
  readonly gateway: Gateway;
  readonly admin: FastifyInstance | undefined;
  readonly store: GatewayStore;
  readonly calls: CallLog;
  /** The alert rules (SPEC 5.1), fed with every finished call. */
  readonly alerts: AlertEngine;
  /** The bound addresses. */
  readonly proxyAddress: ListenAddress;
  readonly adminAddress: ListenAddress | undefined;
  /** Drains calls in flight (up to `drainMs`), flushes the call log, closes everything. */
  stop(drainMs?: number): Promise<void>;
}

/** What an embedder or a test may tune; the configuration says everything else. */
export interface RunOptions {
  readonly alerts?: AlertOptions;
}

/** Opens the storage, builds the proxy and the admin API, and listens on both. */
export async function runGateway(config: GatewayConfig, options: RunOptions = {}): Promise<RunningGateway> {
  const storage = await openStorage(config);
  const { store, calls } = storage;
  const alerts = new AlertEngine(config.alerts, options.alerts);
  // redis:// or rediss://: one limit shared by every gateway process (SPEC 5.1 rateLimitStore).
  const redis = /^rediss?:\/\//.test(config.rateLimitStore)
    ? new RedisRateLimiter(config.rateLimitStore)
    : undefined;
  await redis?.ready();
  const gateway = createGateway(config, {
    access: new StoreAccessControl(store),
    calls: withAlerts(calls, alerts),
    logCounters: () => calls.stats,
    ...(redis ? { limiter: redis, budget: redis.tokens } : {}),
  });
  if (redis) redis.registerMetrics(gateway.metrics.registry);
  registerAlertMetrics(alerts, gateway.metrics.registry);
  alerts.start();
  let admin: FastifyInstance | undefined;
  try {
    const proxyAddress = await gateway.listen();
    const started = await startAdmin(config, store, { calls, alerts, metrics: () => gateway.metrics.text() });
    admin = started?.app;
    const adminAddress = started?.address;
    return {
      gateway,
      admin,
      store,
      calls,
      alerts,
      proxyAddress,
      adminAddress,
      stop: async (drainMs = 10_000) => {
        alerts.close();
        await Promise.all([gateway.close(drainMs), admin?.close()]);
        await storage.close();
      },
    };
  } catch (error) {
    alerts.close();
    await Promise.allSettled([gateway.close(0), admin?.close()]);
    await storage.close();
    throw error;
  }
}
