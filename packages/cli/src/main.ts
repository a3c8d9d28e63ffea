import { parseArgs } from 'node:util';
import { boundYoungGeneration } from '@truce/runtime';
import type * as Server from '@truce/server';
import type { ConfigError, TruceConfig } from '@truce/server';

/*
 * Each command loads only the packages it runs: `truce serve` never loads the gateway's modules,
 * nor `truce gateway` the resource server's. Each holds some 20 MB resident once loaded, in a
 * process whose memory SPEC 7 B5 bounds.
 */
type ServerModule = typeof Server;

/** Exit codes of the `truce` command (SPEC 6). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Where the command writes; tests pass their own. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const defaultIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const USAGE = `Usage: truce <command> [options]

Commands:
  serve    run the resource server
  gateway  run the gateway (proxy and admin API)
  dev      run the shop example: resource server, gateway and dashboard, with a demo key
  check    validate a configuration file (its server part, its gateway part, or both)

Run 'truce <command> --help' for the options of a command.`;

const HELP: Record<string, string> = {
  serve: `Usage: truce serve [--config F] [--listen HOST:PORT] [--storage URL]

Runs the resource server described by the configuration.

Options:
  -c, --config F        configuration file (default: truce.yaml)
  -l, --listen H:P      address to listen on (overrides 'listen')
  -s, --storage URL     sqlite:<path>, sqlite::memory: or postgres://user@host:port/db
                        (overrides 'storage')
  -h, --help            show this help

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad usage or configuration.`,
  gateway: `Usage: truce gateway [--config F]

Runs the gateway described by the gateway: block of the configuration: the proxy, and the admin
API on its own port. SIGTERM or SIGINT drains calls in flight and flushes the call log.

Options:
  -c, --config F        configuration file (default: truce.yaml)
  -h, --help            show this help

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad usage or configuration.`,
  dev: `Usage: truce dev [--traffic] [--data DIR] [--config F] [--server H:P] [--proxy H:P] [--admin H:P]

Runs the whole system on your machine: the resource server on the shop example, the gateway in
front of it (key auth and approval on /shop, an open /catalogue, rate limits, the lost-update
guard on warn, a conflict-rate alert) and its admin port with the dashboard, all stored under one
data folder. Creates a demo consumer with an approved key and prints every URL and key. Ctrl-C
stops everything cleanly; a second run on the same data folder keeps the data and the keys.

Options:
  -t, --traffic         add a small load of shop clients (careful, careless and slow writers
                        racing on the same products) so the analytics have something to show
  -d, --data DIR        the data folder (default: .truce-dev)
  -c, --config F        collections and gateway: block to run (default: the shop example)
      --server H:P      the resource server's address (default: 127.0.0.1:4000)
      --proxy H:P       the gateway's proxy address (default: 127.0.0.1:8080)
      --admin H:P       the dashboard and admin API's address (default: 127.0.0.1:8081)
  -h, --help            show this help
Port 0 picks a free port.

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad usage or configuration.`,
  check: `Usage: truce check [--config F]

Validates a configuration file and prints every problem with its path.

Options:
  -c, --config F        configuration file (default: truce.yaml)
  -h, --help            show this help

Exit codes: 0 valid, 2 invalid or unreadable.`,
};

/**
 * Runs the `truce` command with `argv` (without node and the script). Resolves with the exit code;
 * for `serve`, only once the server has stopped.
 */
export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === '--version' || command === '-v') {
    io.out('truce 0.1.0');
    return EXIT.ok;
  }
  if (command !== 'serve' && command !== 'check' && command !== 'gateway' && command !== 'dev') {
    io.err(`truce: unknown command "${command}"\n\n${USAGE}`);
    return EXIT.usage;
  }
  let values: {
    config?: string | undefined;
    listen?: string | undefined;
    storage?: string | undefined;
    help?: boolean | undefined;
    traffic?: boolean | undefined;
    data?: string | undefined;
    server?: string | undefined;
    proxy?: string | undefined;
    admin?: string | undefined;
  };
  try {
    const serveOnly = {
      listen: { type: 'string', short: 'l' },
      storage: { type: 'string', short: 's' },
    } as const;
    const devOnly = {
      traffic: { type: 'boolean', short: 't' },
      data: { type: 'string', short: 'd' },
      server: { type: 'string' },
      proxy: { type: 'string' },
      admin: { type: 'string' },
    } as const;
    ({ values } = parseArgs({
      args: [...rest],
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        ...(command === 'serve' ? serveOnly : {}),
        ...(command === 'dev' ? devOnly : {}),
      },
      allowPositionals: false,
      strict: true,
    }) as { values: typeof values });
  } catch (error) {
    io.err(`truce ${command}: ${(error as Error).message}\n\n${HELP[command]}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.out(HELP[command]!);
    return EXIT.ok;
  }
  if (command === 'dev') {
    const { devCommand, exampleConfigPath } = await import('./dev.js');
    return devCommand(
      {
        config: values.config ?? exampleConfigPath(),
        data: values.data ?? '.truce-dev',
        server: values.server ?? '127.0.0.1:4000',
        proxy: values.proxy ?? '127.0.0.1:8080',
        admin: values.admin ?? '127.0.0.1:8081',
        traffic: values.traffic ?? false,
      },
      io,
    );
  }
  const file = values.config ?? 'truce.yaml';
  // A long-running process: V8's young generation held at 16 MiB (SPEC 7 B5), from before the
  // command's modules are loaded, which would grow it already.
  if (command === 'serve' || command === 'gateway') boundYoungGeneration();
  if (command === 'gateway') {
    const { formatGatewayConfigError, gatewayCommand, GatewayConfigError, loadGateway } =
      await import('./gateway.js');
    try {
      return await gatewayCommand(loadGateway(file), file, io, argv);
    } catch (error) {
      if (error instanceof GatewayConfigError) {
        io.err(formatGatewayConfigError(error));
        return EXIT.usage;
      }
      throw error;
    }
  }
  const server = await import('@truce/server');
  if (command === 'check') return check(file, io, server);
  let config: TruceConfig;
  try {
    config = server.loadConfigFile(file, { listen: values.listen, storage: values.storage });
  } catch (error) {
    if (error instanceof server.ConfigError) {
      io.err(formatConfigError(error));
      return EXIT.usage;
    }
    throw error;
  }
  return serve(config, file, io, server);
}

/**
 * `truce check`: validates the server part of a file (when it has collections, or no gateway
 * block), and its gateway block (when it has one), reporting every problem of both.
 */
async function check(file: string, io: Io, server: ServerModule): Promise<number> {
  const { ConfigError, loadConfigFile } = server;
  const { hasGatewayBlock, readConfigData } = await import('@truce/gateway');
  const { formatGatewayConfigError, GatewayConfigError, loadGateway } = await import('./gateway.js');
  let data: unknown;
  try {
    data = readConfigData(file);
  } catch (error) {
    if (error instanceof GatewayConfigError) {
      io.err(formatGatewayConfigError(error));
      return EXIT.usage;
    }
    throw error;
  }
  const withGateway = hasGatewayBlock(data);
  const withServer = !withGateway || (data as Record<string, unknown>)['collections'] !== undefined;
  const lines: string[] = [];
  let failed = false;
  if (withServer) {
    try {
      const config = loadConfigFile(file);
      const names = [...config.collections.keys()];
      lines.push(
        `${file}: valid, ${names.length} collection${names.length === 1 ? '' : 's'} (${names.join(', ')})`,
      );
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      io.err(formatConfigError(error));
      failed = true;
    }
  }
  if (withGateway) {
    try {
      const gateway = loadGateway(file);
      lines.push(
        `${file}: gateway valid, ${gateway.routes.length} route${gateway.routes.length === 1 ? '' : 's'} (${gateway.routes.map((r) => r.name).join(', ')})`,
      );
    } catch (error) {
      if (!(error instanceof GatewayConfigError)) throw error;
      io.err(formatGatewayConfigError(error));
      failed = true;
    }
  }
  if (failed) return EXIT.usage;
  for (const line of lines) io.out(line);
  return EXIT.ok;
}

async function serve(config: TruceConfig, file: string, io: Io, server: ServerModule): Promise<number> {
  const { closeWithin, createServer, IndexConflictError, redactStorage } = server;
  io.err(`truce: configuration ${file} loaded (${config.collections.size} collections)`);
  const storage = redactStorage(config.storage);
  io.err(`truce: opening storage ${storage} ...`);
  let app;
  try {
    app = await createServer(config);
  } catch (error) {
    io.err(
      error instanceof IndexConflictError
        ? `truce: cannot start on ${storage}: ${error.message}\n  Fix those resources, or the constraints in ${file}.`
        : `truce: cannot open storage ${storage}: ${(error as Error).message}`,
    );
    return EXIT.failure;
  }
  let address: string;
  try {
    address = await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    io.err(
      `truce: cannot listen on ${config.listen.host}:${config.listen.port}: ${(error as Error).message}`,
    );
    await app.close();
    return EXIT.failure;
  }
  io.out(`truce: serving on ${address}`);
  for (const name of config.collections.keys()) io.out(`  ${address}/${name}`);
  io.out(`  ${address}/_openapi.json`);

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      const drainMs = config.timeouts.drainMs;
      io.err(`truce: ${signal} received, finishing in-flight requests (up to ${drainMs / 1000} s) ...`);
      // Past the drain deadline closeWithin cuts the connections left; should closing the store
      // still hang after that, the process exits anyway rather than outlive its supervisor's patience.
      const hang = setTimeout(() => {
        io.err('truce: the server did not stop after the drain deadline; exiting');
        resolveExit(EXIT.failure);
      }, drainMs + 5000);
      closeWithin(app, drainMs).then(
        () => {
          clearTimeout(hang);
          resolveExit(EXIT.ok);
        },
        (error: unknown) => {
          clearTimeout(hang);
          io.err(`truce: error while stopping: ${(error as Error).message}`);
          resolveExit(EXIT.failure);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/** Every configuration problem on its own line, with its path. */
export function formatConfigError(error: ConfigError): string {
  const lines = [`truce: ${error.message}`];
  for (const issue of error.issues) lines.push(`  ${issue.pointer || '(root)'}: ${issue.message}`);
  return lines.join('\n');
}
