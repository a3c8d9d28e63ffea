/**
 * @truce/gateway: a reverse proxy in front of Truce servers or any HTTP API that makes conflicts
 * visible and keeps traffic in check (SPEC 5).
 */
export { createGateway, type Gateway, type GatewayParts } from './gateway.js';
export {
  GatewayConfigError,
  gatewayConfigSchema,
  hasGatewayBlock,
  loadGatewayConfig,
  readConfigData,
  resolveGatewayConfig,
  type GatewayConfigOptions,
} from './config/load.js';
export type * from './config/types.js';
export type { CallRecord, CallSink, CapturedBody } from './calls/record.js';
export type { AccessControl, Consumer, RateDecision, RateLimiter } from './proxy/policies.js';
export { MemoryRateLimiter } from './limits/memory.js';
export { RedisRateLimiter, type RedisRateLimiterOptions } from './limits/redis.js';
export { GatewayProblem, gatewayProblem } from './problems/answer.js';
export { runGateway, type RunningGateway, type RunOptions } from './run.js';
export { boundGatewayHeap, GATEWAY_HEAP_GROWING_PERCENT } from './heap.js';
export {
  AlertEngine,
  type AlertEvent,
  type AlertOptions,
  type NumberedEvent,
  type RuleStatus,
} from './alerts/engine.js';
export { DEFAULT_WEBHOOK_POLICY, type WebhookPolicy } from './alerts/retry-policy.js';
export { createAdminApp, type AdminParts } from './admin/app.js';
export { SqliteGatewayStore } from './store/sqlite.js';
export type * from './store/types.js';
export { SqliteCallLog } from './calls/sqlite-log.js';
export type { CallLog, CallQuery, CallLogStats, Rollup, StoredCall } from './calls/log.js';
export { PostgresCallLog } from './calls/postgres-log.js';
export { PostgresGatewayStore } from './store/postgres.js';
export { openPostgresDatabase, PostgresDatabase } from './storage/postgres.js';
export { openStorage, openStore, type GatewayStorage } from './storage/open.js';
export { StoreAccessControl, generateKey, hashKey } from './auth/keys.js';
export { runPrimary, runWorker, isGatewayWorker, type GatewayPrimary } from './workers.js';
