import type { FastifyInstance } from 'fastify';
import { registerPromptRoutes } from './prompts.js';
import type { AlertEngine } from '../alerts/engine.js';
import { registerAlertRoutes } from '../alerts/routes.js';
import { registerAnalyticsRoutes } from '../analytics/routes.js';
import type { CallLog } from '../calls/log.js';
import type { GatewayConfig, ListenAddress } from '../config/types.js';
import type { GatewayStore } from '../store/types.js';
import { createAdminApp } from './app.js';
import { registerCallStream } from './call-stream.js';
import { registerCallRoutes } from './calls.js';
import { registerDashboard } from './dashboard.js';

/** What the admin port serves besides the store: the call log, alerts, and this process's metrics. */
export interface AdminSources {
  readonly calls: CallLog;
  readonly alerts: AlertEngine;
  /** The Prometheus text of `GET /metrics`: one process's, or the workers' summed by the primary. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
}

/**
 * Builds the admin API with every route (SPEC 5.4) and listens on `config.admin.listen`; undefined
 * when the configuration has no admin block. The single process and the primary of several
 * workers both start it here, so the two cannot drift apart.
 */
export async function startAdmin(
  config: GatewayConfig,
  store: GatewayStore,
  sources: AdminSources,
): Promise<{ app: FastifyInstance; address: ListenAddress } | undefined> {
  if (!config.admin) return undefined;
  const app = createAdminApp({
    config,
    store,
    extend: (admin) => {
      registerCallStream(admin, sources.calls);
      registerCallRoutes(admin, sources.calls);
      registerDashboard(admin, config.listen.port);
      registerAlertRoutes(admin, sources.alerts);
      registerAnalyticsRoutes(admin, sources.calls, config.routes);
      registerPromptRoutes(admin, config);
      admin.get('/metrics', async (_request, reply) => {
        const { contentType, body } = await sources.metrics();
        return reply.header('content-type', contentType).send(body);
      });
    },
  });
  try {
    await app.listen({ host: config.admin.listen.host, port: config.admin.listen.port });
  } catch (error) {
    await app.close();
    throw error;
  }
  const bound = app.server.address();
  const address =
    typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : config.admin.listen;
  return { app, address };
}
