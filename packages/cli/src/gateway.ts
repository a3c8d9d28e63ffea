import {
  boundGatewayHeap,
  GatewayConfigError,
  isGatewayWorker,
  readConfigData,
  resolveGatewayConfig,
  runGateway,
  runPrimary,
  runWorker,
  type GatewayConfig,
} from '@truce/gateway';
import { dirname, resolve } from 'node:path';

/** Where the command writes. */
interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** Every problem of a gateway configuration on its own line, with its path. */
export function formatGatewayConfigError(error: GatewayConfigError): string {
  const lines = [`truce: ${error.message}`];
  for (const issue of error.issues) lines.push(`  ${issue.pointer || '(root)'}: ${issue.message}`);
  return lines.join('\n');
}

/** The gateway block of a configuration file, resolved; a {@link GatewayConfigError} otherwise. */
export function loadGateway(file: string): GatewayConfig {
  const path = resolve(file);
  return resolveGatewayConfig(readConfigData(path), { file: path, baseDir: dirname(path) });
}

/** `truce gateway`: runs until SIGINT or SIGTERM, then drains calls in flight and flushes the call log. */
export async function gatewayCommand(
  config: GatewayConfig,
  file: string,
  io: Io,
  argv: readonly string[],
): Promise<number> {
  // This process is the gateway's: keep its heap near what it holds live (SPEC 7 B5).
  boundGatewayHeap();
  if (isGatewayWorker()) {
    await runWorker(config);
    return new Promise<number>(() => undefined); // the primary decides when a worker ends
  }
  const workers = config.workers > 1 ? `, ${config.workers} workers` : '';
  io.err(
    `truce: gateway configuration ${file} loaded (${config.routes.length} routes, ${config.upstreams.size} upstreams${workers})`,
  );
  let running;
  try {
    running = config.workers > 1 ? await runPrimary(config, argv) : await runGateway(config);
  } catch (error) {
    io.err(`truce: cannot start the gateway: ${(error as Error).message}`);
    return 1;
  }
  const { proxyAddress, adminAddress } = running;
  io.out(`truce: gateway proxying on http://${hostPort(proxyAddress)}`);
  for (const route of config.routes)
    io.out(`  ${route.name}: ${route.host ?? ''}${route.prefix || '/'} -> ${route.upstream}`);
  if (adminAddress) io.out(`truce: admin API on http://${hostPort(adminAddress)}`);
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      io.err(`truce: ${signal} received, finishing calls in flight and flushing the call log ...`);
      running.stop().then(
        () => resolveExit(0),
        (error: unknown) => {
          io.err(`truce: error while stopping: ${(error as Error).message}`);
          resolveExit(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

function hostPort(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export { GatewayConfigError };
