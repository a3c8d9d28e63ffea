// B4/B5's gateway under test, in its own process: `node servers/gateway.mjs <variant> <upstream-url>
// <data-dir>` with the API key to accept in TRUCE_BENCH_KEY (and the admin key in
// TRUCE_BENCH_ADMIN_KEY). One route, `/items`, to the plain upstream; the variants (SPEC 7 B4):
//   a  bare route: no auth, no rate limit, call records discarded (the metrics, which the proxy
//      always keeps, still count every call)
//   b  a + key auth (a consumer with an approved subscription) + a rate limit too high to refuse;
//      call records still discarded
//   c  b + the call log on SQLite with headers (`log.bodies: 0`), as `truce gateway` runs it
//   d  c + bodies up to 4 KiB (`log.bodies: 4kb`, the default)
// c and d run through runGateway (the SQLite call log, the admin API); a and b through
// createGateway with a sink that drops every record, since a gateway always logs its calls.
import { join } from 'node:path';
import {
  boundGatewayHeap,
  createGateway,
  hashKey,
  resolveGatewayConfig,
  runGateway,
  SqliteGatewayStore,
  StoreAccessControl,
} from '@truce/gateway';

// As `truce gateway` sets up its process (packages/gateway/src/heap.ts).
if (process.env.TRUCE_BENCH_DEFAULT_HEAP === undefined) boundGatewayHeap();

const [variant, upstreamUrl, dataDir] = process.argv.slice(2);
if (!['a', 'b', 'c', 'd'].includes(variant ?? '') || !upstreamUrl || !dataDir) {
  throw new Error('usage: node servers/gateway.mjs <a|b|c|d> <upstream-url> <data-dir>');
}
const key = process.env.TRUCE_BENCH_KEY ?? 'truce_bench-key-0000000000000000000000000000000000000000';
const adminKey = process.env.TRUCE_BENCH_ADMIN_KEY ?? 'bench-admin-key-0123456789abcdef';
const maxCalls = Number(process.env.TRUCE_BENCH_MAX_CALLS ?? 1_000_000);
const db = join(dataDir, 'gateway.db');

const keyed = variant !== 'a';
const config = resolveGatewayConfig(
  {
    gateway: {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0', key: adminKey },
      storage: `sqlite:${db}`,
      workers: 1,
      log: { bodies: variant === 'd' ? '4kb' : 0, retention: { maxCalls } },
      upstreams: { up: { targets: [upstreamUrl] } },
      routes: [
        {
          name: 'items',
          match: { prefix: '/items' },
          upstream: 'up',
          ...(keyed && {
            auth: 'key',
            subscription: 'approval',
            rateLimit: { limit: 1_000_000_000, window: '1s', by: 'consumer' },
          }),
        },
      ],
    },
  },
  { baseDir: dataDir },
);

// The consumer, its key and its approved subscription, straight in the store (as the admin API would).
const store = new SqliteGatewayStore(db);
const consumer = await store.createConsumer('bench', Date.now());
await store.addKey(consumer.id, hashKey(key), key.slice(0, 12), Date.now());
const subscription = await store.subscribe(consumer.id, 'items', 'pending', Date.now());
await store.transitionSubscription(subscription.id, 'approve', Date.now());

let port;
let adminPort = null;
let stop;
if (variant === 'a' || variant === 'b') {
  const gateway = createGateway(config, { access: new StoreAccessControl(store), calls: { push() {} } });
  ({ port } = await gateway.listen());
  stop = async () => {
    await gateway.close(1_000);
    await store.close();
  };
} else {
  await store.close();
  const running = await runGateway(config);
  port = running.proxyAddress.port;
  adminPort = running.adminAddress?.port ?? null;
  stop = () => running.stop(1_000);
}

let closing;
const shutdown = () => {
  closing ??= stop().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('message', (message) => {
  if (message && message.stop) shutdown();
  // B5 asks where the memory is: V8's heap, buffers outside it, and the rest (SQLite, code, stacks).
  if (message && message.memory) process.send({ memory: process.memoryUsage() });
});
process.on('disconnect', shutdown);
process.on('SIGTERM', shutdown);
process.send({ ready: true, port, adminPort });
