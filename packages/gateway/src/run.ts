import type { FastifyInstance } from 'fastify';
import { createAdminApp } from './admin/app.js';
import { registerCallRoutes } from './admin/calls.js';
import { registerAnalyticsRoutes } from './analytics/routes.js';
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
  /** The bound addresses. */
  readonly proxyAddress: ListenAddress;
  readonly adminAddress: ListenAddress | undefined;
  /** Drains calls in flight (up to `drainMs`), flushes the call log, closes everything. */
  stop(drainMs?: number): Promise<void>;
}

/** Opens the storage, builds the proxy and the admin API, and listens on both. */
export async function runGateway(config: GatewayConfig): Promise<RunningGateway> {
  const storage = await openStorage(config);
  const { store, calls } = storage;
  // redis:// or rediss://: one limit shared by every gateway process (SPEC 5.1 rateLimitStore).
  const redis = /^rediss?:\/\//.test(config.rateLimitStore)
    ? new RedisRateLimiter(config.rateLimitStore)
    : undefined;
  await redis?.ready();
  const gateway = createGateway(config, {
    access: new StoreAccessControl(store),
    calls,
    logCounters: () => calls.stats,
    ...(redis ? { limiter: redis } : {}),
  });
  if (redis) redis.registerMetrics(gateway.metrics.registry);
  let admin: FastifyInstance | undefined;
  try {
    const proxyAddress = await gateway.listen();
    let adminAddress: ListenAddress | undefined;
    if (config.admin) {
      admin = createAdminApp({
        config,
        store,
        extend: (app) => {
          registerCallRoutes(app, calls);
          registerAnalyticsRoutes(app, calls);
          app.get('/metrics', async (_request, reply) => {
            const { contentType, body } = await gateway.metrics.text();
            return reply.header('content-type', contentType).send(body);
          });
        },
      });
      await admin.listen({ host: config.admin.listen.host, port: config.admin.listen.port });
      const bound = admin.server.address();
      adminAddress =
        typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : config.admin.listen;
    }
    return {
      gateway,
      admin,
      store,
      calls,
      proxyAddress,
      adminAddress,
      stop: async (drainMs = 10_000) => {
        await Promise.all([gateway.close(drainMs), admin?.close()]);
        await storage.close();
      },
    };
  } catch (error) {
    await Promise.allSettled([gateway.close(0), admin?.close()]);
    await storage.close();
    throw error;
  }
}
