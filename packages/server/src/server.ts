import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { redactStorage } from './config/load.js';
import type { TruceConfig } from './config/types.js';
import { trucePlugin, type TrucePluginOptions } from './http/plugin.js';
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
  const app = Fastify({
    logger: options.logger ?? { level: 'warn' },
    bodyLimit: config.bodyLimit,
    // Ids may be up to 200 characters; longer ones must reach the handler to get a clear 400.
    routerOptions: { maxParamLength: 1000 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
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
    return openPostgresStore({ url, schema: config.postgres.schema, poolSize: config.postgres.poolSize });
  }
  throw new Error(`unsupported storage "${redactStorage(url)}"`);
}
