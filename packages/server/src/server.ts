import { mkdirSync } from 'node:fs';
import { METHODS } from 'node:http';
import { dirname, isAbsolute, resolve } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { redactStorage } from './config/load.js';
import type { TruceConfig } from './config/types.js';
import { clientErrorHandler } from './http/client-errors.js';
import { toProblem } from './http/errors.js';
import { destroyLingering } from './http/linger.js';
import { trucePlugin, type TrucePluginOptions } from './http/plugin.js';
import { sendProblem } from './http/reply.js';
import { httpServerFactory, lingerBounds } from './http/transport.js';
import { openPostgresStore } from './store/postgres/postgres-store.js';
import { openSqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/types.js';

/** Options of {@link createServer}. */
export interface CreateServerOptions {
  /** Use this store instead of opening `config.storage` (the caller then closes it). */
  readonly store?: Store;
  /** Fastify logger setting; default: warnings and errors only. */
  readonly logger?: FastifyServerOptions['logger'];
  /** Change-feed pacing (heartbeat and polling intervals); tests shorten it. */
  readonly feed?: TrucePluginOptions['feed'];
  /** The clock for leases and idempotency keys (epoch ms); tests move a fake one. */
  readonly clock?: TrucePluginOptions['clock'];
}

/**
 * A standalone resource server: a Fastify instance with {@link trucePlugin} at the root. Call
 * `listen()` on it; `close()` also closes the store it opened.
 */
export async function createServer(
  config: TruceConfig,
  options: CreateServerOptions = {},
): Promise<FastifyInstance> {
  const store = options.store ?? (await openStore(config));
  const typeBase = config.problemTypeBase ?? '/_problems/';
  let closing = false;
  const transport = {
    closing: () => closing,
    timeouts: config.timeouts,
    bodyLimit: config.bodyLimit,
    typeBase,
    linger: lingerBounds(config.bodyLimit),
  };
  const app = Fastify({
    logger: options.logger ?? { level: 'warn' },
    bodyLimit: config.bodyLimit,
    // Ids may be up to 200 characters; longer ones must reach the handler to get a clear 400.
    routerOptions: { maxParamLength: 1000 },
    // The transport answers requests that arrive while closing, as problems.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    serverFactory: httpServerFactory(transport),
    // Whatever Fastify or Node.js refuse before a route runs is a problem+json too.
    clientErrorHandler: clientErrorHandler({ ...transport, requestTimeoutMs: config.timeouts.requestMs }),
    frameworkErrors: (error, request, reply) => {
      const path = request.url.split('?', 1)[0]!;
      void sendProblem(reply, toProblem(error, request.method, config.bodyLimit), path, typeBase);
    },
  });
  // Every method Node.js parses reaches the routes, so that one they do not take is 405 with Allow
  // (RFC 9110 15.5.6) rather than 404. CONNECT never reaches a route in Node.js.
  for (const method of METHODS) {
    if (method !== 'CONNECT' && !app.supportedMethods.includes(method))
      app.addHttpMethod(method, { hasBody: true });
  }
  // Connections that are only lingering after their answer would hold close() for seconds.
  app.addHook('preClose', async () => {
    closing = true;
    destroyLingering(app.server);
  });
  if (!options.store) app.addHook('onClose', async () => store.close());
  try {
    await app.register(trucePlugin, { config, store, feed: options.feed, clock: options.clock });
  } catch (error) {
    // A plugin that refused to start (e.g. data breaking a new constraint) leaves nothing running.
    await app.close().catch(() => undefined);
    if (!options.store) await store.close();
    throw error;
  }
  return app;
}

/**
 * Opens the store named by `config.storage`: `sqlite:<path>`, `sqlite::memory:`, or a
 * `postgres://` URL (connected, with its schema created or migrated, before this resolves).
 */
export async function openStore(config: TruceConfig): Promise<Store> {
  const url = config.storage;
  if (url.startsWith('sqlite:')) {
    const target = url.slice('sqlite:'.length);
    if (target === ':memory:') return openSqliteStore({ path: ':memory:', durability: config.durability });
    const path = isAbsolute(target) ? target : resolve(config.baseDir, target);
    mkdirSync(dirname(path), { recursive: true });
    return openSqliteStore({ path, durability: config.durability });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    return openPostgresStore({
      url,
      schema: config.postgres.schema,
      poolSize: config.postgres.poolSize,
      groupCommit: config.postgres.groupCommit,
    });
  }
  throw new Error(`unsupported storage "${redactStorage(url)}"`);
}
