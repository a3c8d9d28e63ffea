import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';
import { startAdmin } from './admin/start.js';
import { AlertEngine } from './alerts/engine.js';
import { registerAlertMetrics } from './alerts/metrics.js';
import { StoreAccessControl } from './auth/keys.js';
import { RecordQueue } from './calls/queue.js';
import type { CallRecord, CallSink } from './calls/record.js';
import type { GatewayConfig, ListenAddress } from './config/types.js';
import { createGateway } from './gateway.js';
import { openStorage, openStore } from './storage/open.js';
import type { RateLimiter } from './proxy/policies.js';
import { RedisRateLimiter } from './limits/redis.js';
import type { RunOptions } from './run.js';

/** Messages between the primary and its proxy workers. */
type ToPrimary =
  | { readonly type: 'truce:listening'; readonly address: ListenAddress }
  | { readonly type: 'truce:calls'; readonly records: CallRecord[] }
  | { readonly type: 'truce:metrics'; readonly id: number; readonly metrics: unknown };
type ToWorker =
  | { readonly type: 'truce:stop'; readonly drainMs: number }
  | { readonly type: 'truce:metrics'; readonly id: number };

/** Records a worker sends to the primary at least this often, or as soon as this many wait. */
const SEND_MS = 100;
const SEND_RECORDS = 500;

/** The primary of a multi-process gateway: the admin API and the call log, in one place. */
export interface GatewayPrimary {
  readonly proxyAddress: ListenAddress;
  readonly adminAddress: ListenAddress | undefined;
  readonly workers: number;
  stop(drainMs?: number): Promise<void>;
}

/**
 * `workers: N` (SPEC 5.1): N proxy processes share the listening port (node:cluster hands
 * connections to them in turn), each with its own upstream pools and its own reads of the store for
 * keys; the call log is written by the primary alone, from batches the workers send it, so SQLite
 * sees one writer. The admin API runs in the primary and sums the workers' metrics. Rate limits are
 * exact only with a shared `rateLimitStore` (the configuration refuses memory with several workers).
 * `makeLimiter` builds each worker's limiter.
 */
export async function runPrimary(
  config: GatewayConfig,
  workerArgs: readonly string[],
  options: RunOptions = {},
): Promise<GatewayPrimary> {
  const storage = await openStorage(config);
  const { store, calls } = storage;
  // Every worker's records reach the primary, so the alert rules see every call once.
  const alerts = new AlertEngine(config.alerts, options.alerts);
  const alertMetrics = new Registry();
  registerAlertMetrics(alerts, alertMetrics);
  alerts.start();
  cluster.setupPrimary({ args: [...workerArgs], serialization: 'advanced' });
  const workers: Worker[] = [];
  const pendingMetrics = new Map<
    number,
    { left: number; parts: unknown[]; done: (parts: unknown[]) => void }
  >();
  let metricsId = 0;
  let stopping = false;

  const listening = new Promise<ListenAddress>((resolve, reject) => {
    let ready = 0;
    for (let i = 0; i < config.workers; i++) {
      const worker = cluster.fork({ TRUCE_GATEWAY_WORKER: String(i) });
      workers.push(worker);
      worker.on('message', (message: ToPrimary) => {
        if (message.type === 'truce:calls')
          for (const record of message.records) {
            calls.push(record);
            alerts.push(record);
          }
        else if (message.type === 'truce:listening') {
          if (++ready === config.workers) resolve(message.address);
        } else if (message.type === 'truce:metrics') {
          const pending = pendingMetrics.get(message.id);
          if (pending) {
            pending.parts.push(message.metrics);
            if (--pending.left === 0) {
              pendingMetrics.delete(message.id);
              pending.done(pending.parts);
            }
          }
        }
      });
      worker.on('exit', (code) => {
        if (!stopping) reject(new Error(`gateway worker ${i} exited with ${code} before it listened`));
      });
    }
  });
  const proxyAddress = await listening;

  /** Every worker's metrics, summed (counters and histograms add up across processes). */
  const clusterMetrics = () =>
    new Promise<unknown[]>((resolve) => {
      const id = ++metricsId;
      const alive = workers.filter((w) => w.isConnected());
      if (alive.length === 0) return resolve([]);
      pendingMetrics.set(id, { left: alive.length, parts: [], done: resolve });
      for (const w of alive) w.send({ type: 'truce:metrics', id } satisfies ToWorker);
      setTimeout(() => {
        const pending = pendingMetrics.get(id);
        if (pending) {
          pendingMetrics.delete(id);
          resolve(pending.parts);
        }
      }, 2_000).unref();
    });

  /** The workers' metrics summed, the call log's counters, and the alert states. */
  const metrics = async () => {
    const parts = (await clusterMetrics()) as Parameters<typeof AggregatorRegistry.aggregate>[0];
    const registry = AggregatorRegistry.aggregate(parts);
    const text = await registry.metrics();
    const log = calls.stats;
    const own = [
      `# HELP truce_gateway_call_log_written Call records written to the log since start.`,
      `# TYPE truce_gateway_call_log_written gauge`,
      `truce_gateway_call_log_written ${log.written}`,
      `# HELP truce_gateway_call_log_dropped Call records dropped because the log fell behind, since start.`,
      `# TYPE truce_gateway_call_log_dropped gauge`,
      `truce_gateway_call_log_dropped ${log.dropped}`,
      `# HELP truce_gateway_call_log_deleted Call records deleted by retention, since start.`,
      `# TYPE truce_gateway_call_log_deleted gauge`,
      `truce_gateway_call_log_deleted ${log.deleted}`,
      `# HELP truce_gateway_workers Proxy worker processes running.`,
      `# TYPE truce_gateway_workers gauge`,
      `truce_gateway_workers ${workers.filter((w) => w.isConnected()).length}`,
    ].join('\n');
    const alertText = await alertMetrics.metrics();
    return { contentType: registry.contentType, body: `${text}\n${own}\n${alertText}` };
  };
  const started = await startAdmin(config, store, { calls, alerts, metrics });
  const admin = started?.app;
  const adminAddress = started?.address;

  return {
    proxyAddress,
    adminAddress,
    workers: config.workers,
    stop: async (drainMs = 10_000) => {
      stopping = true;
      alerts.close();
      const exits = workers.map(
        (w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))),
      );
      for (const w of workers)
        if (w.isConnected()) w.send({ type: 'truce:stop', drainMs } satisfies ToWorker);
      const killer = setTimeout(() => workers.forEach((w) => w.process.kill('SIGKILL')), drainMs + 5_000);
      await Promise.all([...exits, admin?.close()]);
      clearTimeout(killer);
      await storage.close();
    },
  };
}

/** One proxy worker: listens on the shared port and sends its call records to the primary. */
export async function runWorker(config: GatewayConfig, limiter?: RateLimiter): Promise<void> {
  const store = await openStore(config);
  // With several workers a memory limiter (or token budget) would allow the limit once per worker:
  // the configuration refuses that, so limited routes here always have a shared store.
  const redis =
    limiter === undefined && /^rediss?:\/\//.test(config.rateLimitStore)
      ? new RedisRateLimiter(config.rateLimitStore)
      : undefined;
  await redis?.ready();
  // What waits for the primary, bounded by count and bytes (calls/queue.ts); past that, dropped.
  const pending = new RecordQueue();
  let dropped = 0;
  const send = () => {
    if (pending.length === 0 || !process.connected) return;
    process.send!({ type: 'truce:calls', records: pending.take() } satisfies ToPrimary);
  };
  const sink: CallSink = {
    push(record) {
      if (!pending.offer(record)) {
        dropped++;
        return;
      }
      if (pending.length >= SEND_RECORDS) send();
    },
  };
  const timer = setInterval(send, SEND_MS);
  const gateway = createGateway(config, {
    access: new StoreAccessControl(store),
    calls: sink,
    ...(limiter ? { limiter } : redis ? { limiter: redis } : {}),
    ...(redis ? { budget: redis.tokens } : {}),
    logCounters: () => ({ written: 0, dropped, deleted: 0 }),
  });
  if (redis) redis.registerMetrics(gateway.metrics.registry);
  const address = await gateway.listen();
  process.send!({ type: 'truce:listening', address } satisfies ToPrimary);
  process.on('message', (message: ToWorker) => {
    if (message.type === 'truce:metrics') {
      void gateway.metrics.registry.getMetricsAsJSON().then((metrics) => {
        if (process.connected)
          process.send!({ type: 'truce:metrics', id: message.id, metrics } satisfies ToPrimary);
      });
    } else if (message.type === 'truce:stop') {
      void gateway.close(message.drainMs).then(async () => {
        clearInterval(timer);
        send();
        await store.close();
        process.disconnect();
        process.exit(0);
      });
    }
  });
  // The primary handles signals; a worker only stops when told to (or when the primary is gone).
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('disconnect', () => void gateway.close(1_000).then(() => process.exit(0)));
}

/** Whether this process is a proxy worker of a multi-process gateway. */
export function isGatewayWorker(): boolean {
  return cluster.isWorker && process.env['TRUCE_GATEWAY_WORKER'] !== undefined;
}
