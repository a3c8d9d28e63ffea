/**
 * `@truce/server`: a conflict-aware REST resource server. Use {@link createServer} for a standalone
 * server, or register {@link trucePlugin} inside your own Fastify app.
 */
export { createServer, openStore, type CreateServerOptions } from './server.js';
export { trucePlugin, type TrucePluginOptions } from './http/plugin.js';
export { closeWithin } from './http/transport.js';
export {
  loadConfigFile,
  parseConfigText,
  resolveConfig,
  truceConfigSchema,
  ConfigError,
  redactStorage,
  type ConfigOverrides,
} from './config/load.js';
export type {
  TruceConfig,
  TruceConfigInput,
  CollectionConfig,
  ConfigIssue,
  Timeouts,
} from './config/types.js';
export { buildOpenApi } from './openapi/build.js';
export { problemsMarkdown } from '@truce/protocol';
export { IndexConflictError } from './rules/indexes.js';
export { openSqliteStore, SqliteStore } from './store/sqlite/sqlite-store.js';
export {
  openPostgresStore,
  PostgresStore,
  type PostgresStoreOptions,
} from './store/postgres/postgres-store.js';
export * from './store/types.js';
