import { randomBytes } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeWithin, createServer, loadConfigFile, type TruceConfig } from '@truce/server';
import {
  hasGatewayBlock,
  readConfigData,
  resolveGatewayConfig,
  runGateway,
  type GatewayConfig,
  type RunningGateway,
} from '@truce/gateway';
import { AdminClient } from './admin-client.js';
import { startTraffic, type Traffic } from './traffic.js';

/** Where the command writes. */
interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** What `truce dev` runs, from its flags. */
export interface DevOptions {
  /** The configuration with the collections and the `gateway:` block; default the shop example. */
  readonly config: string;
  /** The folder every store lives in (created when missing). */
  readonly data: string;
  /** Listen addresses (`host:port`; port 0 picks a free one). */
  readonly server: string;
  readonly proxy: string;
  readonly admin: string;
  /** Whether to run the built-in shop clients. */
  readonly traffic: boolean;
}

/** The shop example shipped beside the CLI, which `truce dev` runs when no `--config` is given. */
export function exampleConfigPath(): string {
  return fileURLToPath(new URL('../../../examples/shop/truce.yaml', import.meta.url));
}

/** The demo consumer `truce dev` creates, with a key printed at start-up. */
export const DEMO_CONSUMER = 'demo';

/** What `truce dev` keeps in its data folder between runs: the keys it made and printed. */
interface Secrets {
  adminKey: string;
  keys: Record<string, { id: string; key: string }>;
}

/**
 * `truce dev`: the resource server on the shop example, the gateway in front of it and its admin
 * port with the dashboard, all with embedded storage in one data folder; a demo consumer with an
 * approved key; optionally a small load of shop clients. Runs until SIGINT or SIGTERM, then stops
 * the traffic, drains the gateway and the server, and resolves the exit code.
 */
export async function devCommand(options: DevOptions, io: Io): Promise<number> {
  const data = resolve(options.data);
  const file = resolve(options.config);
  let serverConfig: TruceConfig;
  let gatewayConfig: GatewayConfig;
  let secrets: Secrets;
  try {
    mkdirSync(data, { recursive: true, mode: 0o700 });
    secrets = readSecrets(data);
    serverConfig = loadConfigFile(file, {
      listen: options.server,
      storage: `sqlite:${join(data, 'truce.db')}`,
    });
  } catch (error) {
    io.err(`truce dev: ${(error as Error).message}`);
    return 2;
  }
  io.err(`truce dev: data folder ${data}`);
  io.err(`truce dev: starting the resource server (${serverConfig.collections.size} collections) ...`);
  let server: Awaited<ReturnType<typeof createServer>>;
  try {
    server = await createServer(serverConfig);
  } catch (error) {
    io.err(`truce dev: cannot open ${join(data, 'truce.db')}: ${(error as Error).message}`);
    return 1;
  }
  let serverUrl: string;
  try {
    serverUrl = await server.listen({ host: serverConfig.listen.host, port: serverConfig.listen.port });
    await seedPlayground(serverUrl, serverConfig);
  } catch (error) {
    io.err(`truce dev: cannot start the resource server on ${options.server}: ${(error as Error).message}`);
    await server.close();
    return 1;
  }
  try {
    // The dashboard's playground calls the proxy from the admin port's origin, so the gateway's
    // CORS list needs that origin before either listens: a port 0 is chosen here.
    const proxy = await withFreePort(options.proxy);
    const adminAt = await withFreePort(options.admin);
    gatewayConfig = devGatewayConfig(
      file,
      { ...options, proxy, admin: adminAt },
      data,
      secrets.adminKey,
      serverUrl,
    );
  } catch (error) {
    io.err(`truce dev: ${(error as Error).message}`);
    await server.close();
    return 2;
  }
  io.err('truce dev: starting the gateway ...');
  let gateway: RunningGateway;
  try {
    gateway = await runGateway(gatewayConfig);
  } catch (error) {
    io.err(`truce dev: cannot start the gateway: ${(error as Error).message}`);
    await server.close();
    return 1;
  }
  const proxyUrl = `http://${hostPort(gateway.proxyAddress)}`;
  const adminUrl = `http://${hostPort(gateway.adminAddress!)}`;
  const admin = new AdminClient(adminUrl, secrets.adminKey);
  const keyed = gatewayConfig.routes.filter((r) => r.auth === 'key').map((r) => r.name);
  let traffic: Traffic | undefined;
  try {
    const demo = await admin.consumerWithKey(DEMO_CONSUMER, secrets.keys[DEMO_CONSUMER], keyed);
    secrets.keys[DEMO_CONSUMER] = demo;
    if (options.traffic) {
      const clients: Record<string, string> = {};
      for (const name of ['web-shop', 'mobile-app', 'stock-sync']) {
        const key = await admin.consumerWithKey(name, secrets.keys[name], keyed);
        secrets.keys[name] = key;
        clients[name] = key.key;
      }
      traffic = startTraffic({ proxyUrl, keys: clients, onError: (line) => io.err(`truce dev: ${line}`) });
    }
    writeSecrets(data, secrets);
  } catch (error) {
    io.err(`truce dev: cannot set up the demo consumers: ${(error as Error).message}`);
    await traffic?.stop();
    await gateway.stop(0);
    await server.close();
    return 1;
  }

  const shop = gatewayConfig.routes.find((r) => r.auth === 'key') ?? gatewayConfig.routes[0];
  io.out(`truce dev: running (Ctrl-C stops everything)`);
  io.out(`  resource server  ${serverUrl}   (OpenAPI: ${serverUrl}/_openapi.json)`);
  io.out(`  gateway          ${proxyUrl}`);
  for (const route of gatewayConfig.routes)
    io.out(
      `    ${route.name}: ${proxyUrl}${route.prefix}  (${route.auth === 'key' ? `key, subscription ${route.subscription}` : 'open'})`,
    );
  io.out(`  dashboard        ${adminUrl}/   (admin API: OpenAPI at /openapi.json, metrics at /metrics)`);
  io.out(`  admin key        ${secrets.adminKey}`);
  io.out(
    `  demo key         ${demo(secrets)}   (consumer "${DEMO_CONSUMER}", approved on ${keyed.join(', ') || 'no route'})`,
  );
  if (shop) io.out(`  try: curl -H 'X-Api-Key: ${demo(secrets)}' ${proxyUrl}${shop.prefix}/products`);
  io.out(`  calls: curl -H 'Authorization: Bearer ${secrets.adminKey}' '${adminUrl}/calls?limit=5'`);
  if (traffic) io.out(`  traffic: ${traffic.describe()}`);

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      io.err(`truce dev: ${signal} received, stopping the traffic, the gateway and the server ...`);
      const drainMs = serverConfig.timeouts.drainMs;
      const hang = setTimeout(() => {
        io.err('truce dev: did not stop after the drain deadline; exiting');
        resolveExit(1);
      }, drainMs + 10_000);
      (async () => {
        await traffic?.stop();
        await gateway.stop(drainMs);
        await closeWithin(server, drainMs);
      })().then(
        () => {
          clearTimeout(hang);
          io.err('truce dev: stopped');
          resolveExit(0);
        },
        (error: unknown) => {
          clearTimeout(hang);
          io.err(`truce dev: error while stopping: ${(error as Error).message}`);
          resolveExit(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

function demo(secrets: Secrets): string {
  return secrets.keys[DEMO_CONSUMER]!.key;
}

/**
 * The configuration's `gateway:` block made local: the proxy and admin API on the flags'
 * addresses, the admin key of the data folder, storage in the data folder, and every upstream
 * pointed at the resource server this command started.
 */
function devGatewayConfig(
  file: string,
  options: DevOptions,
  data: string,
  adminKey: string,
  serverUrl: string,
): GatewayConfig {
  const document = readConfigData(file);
  if (!hasGatewayBlock(document))
    throw new Error(`${file} has no gateway: block; truce dev needs one (see examples/shop/truce.yaml)`);
  const block = { ...((document as { gateway: Record<string, unknown> }).gateway ?? {}) };
  block['listen'] = options.proxy;
  block['admin'] = { listen: options.admin, key: adminKey };
  block['storage'] = `sqlite:${join(data, 'gateway.db')}`;
  block['rateLimitStore'] = 'memory';
  const [adminHost, adminPort] = splitHostPort(options.admin);
  const origins = new Set([`http://${adminHost.includes(':') ? `[${adminHost}]` : adminHost}:${adminPort}`]);
  if (adminHost === '127.0.0.1' || adminHost === 'localhost') {
    origins.add(`http://127.0.0.1:${adminPort}`);
    origins.add(`http://localhost:${adminPort}`);
  }
  const cors = (block['cors'] ?? {}) as { origins?: string[] };
  block['cors'] = { ...cors, origins: [...new Set([...(cors.origins ?? []), ...origins])] };
  block['workers'] = 1;
  const upstreams = (block['upstreams'] ?? {}) as Record<string, Record<string, unknown>>;
  block['upstreams'] = Object.fromEntries(
    Object.entries(upstreams).map(([name, upstream]) => [name, { ...upstream, targets: [serverUrl] }]),
  );
  return resolveGatewayConfig({ gateway: block }, { file, baseDir: dirname(file) });
}

const SECRETS = 'dev-secrets.json';

function readSecrets(data: string): Secrets {
  const path = join(data, SECRETS);
  if (existsSync(path)) {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Secrets>;
    if (typeof parsed.adminKey === 'string' && parsed.keys && typeof parsed.keys === 'object')
      return { adminKey: parsed.adminKey, keys: parsed.keys };
  }
  return { adminKey: `truce-dev-${randomBytes(18).toString('base64url')}`, keys: {} };
}

function writeSecrets(data: string, secrets: Secrets): void {
  writeFileSync(join(data, SECRETS), `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
}

/**
 * The document the dashboard's conflict playground edits, made once so that the page finds it
 * (the page makes it too where `truce dev` did not run).
 */
async function seedPlayground(serverUrl: string, config: TruceConfig): Promise<void> {
  if (!config.collections.has('documents')) return;
  const res = await fetch(`${serverUrl}/documents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'truce-actor': 'truce-dev' },
    body: JSON.stringify({
      id: 'playground',
      title: 'Launch plan',
      body: 'Book the venue\nInvite the press\nOrder the cake',
      tags: ['draft'],
    }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.body?.cancel();
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`cannot create the playground document: ${res.status}`);
}

/** `host:port` with port 0 replaced by a port free right now on that host. */
async function withFreePort(address: string): Promise<string> {
  const [host, port] = splitHostPort(address);
  if (port !== 0) return address;
  const free = await new Promise<number>((resolvePort, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port: chosen } = probe.address() as { port: number };
      probe.close(() => resolvePort(chosen));
    });
  });
  return `${host.includes(':') ? `[${host}]` : host}:${free}`;
}

function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[|\]$/g, ''), Number(address.slice(at + 1))];
}

function hostPort(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
