import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { GatewayConfig, ListenAddress } from './config/types.js';
import type { CallSink } from './calls/record.js';
import { MemoryRateLimiter } from './limits/memory.js';
import { gatewayProblem, problemText } from './problems/answer.js';
import { createProxyHandler } from './proxy/handler.js';
import type { AccessControl, RateLimiter } from './proxy/policies.js';
import { Upstream } from './proxy/upstream.js';
import { GatewayMetrics, type LogCounters } from './metrics/metrics.js';
import { ModelInvoker } from './ai/invoke.js';
import { MemoryTokenBudget, type TokenBudget } from './ai/tokens.js';
import { TruceState } from './ai/state.js';

/** The parts a gateway is assembled from; tests and embedders may pass their own. */
export interface GatewayParts {
  readonly access: AccessControl;
  readonly calls: CallSink;
  readonly limiter?: RateLimiter;
  /** Where AI routes keep their token budgets; by default this process (Redis: `RedisRateLimiter.tokens`). */
  readonly budget?: TokenBudget;
  /** Counters of the call log, for the metrics; none when the sink keeps none. */
  readonly logCounters?: () => LogCounters;
}

/** A running gateway: the proxy listener and its upstreams. */
export interface Gateway {
  readonly config: GatewayConfig;
  readonly server: Server;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly metrics: GatewayMetrics;
  /** Listens on `config.listen` (or `address`); resolves with the bound address. */
  listen(address?: ListenAddress): Promise<ListenAddress>;
  /**
   * Stops accepting connections, lets calls in flight finish for up to `drainMs`, then cuts what
   * is left and closes the upstream pools.
   */
  close(drainMs?: number): Promise<void>;
}

/** Builds the proxy of SPEC 5.2 from a resolved configuration. */
export function createGateway(config: GatewayConfig, parts: GatewayParts): Gateway {
  const upstreams = new Map([...config.upstreams.values()].map((u) => [u.name, new Upstream(u)]));
  const limiter = parts.limiter ?? new MemoryRateLimiter();
  const noLog = { written: 0, dropped: 0, deleted: 0 };
  const metrics = new GatewayMetrics(upstreams, parts.logCounters ?? (() => noLog));
  const invokers = new Map(
    config.routes.flatMap((route) => (route.ai ? [[route.name, new ModelInvoker(route.ai)] as const] : [])),
  );
  const states = new Map(
    config.routes.flatMap((route) => {
      const state = route.ai?.state;
      const upstream = state && upstreams.get(state.upstream);
      return upstream
        ? [[route.name, new TruceState(upstream, upstream.config.timeouts.responseMs)] as const]
        : [];
    }),
  );
  const handler = createProxyHandler({
    config,
    upstreams,
    access: parts.access,
    limiter,
    metrics,
    calls: parts.calls,
    ai: { invokers, budget: parts.budget ?? new MemoryTokenBudget(), states },
  });
  const server = createServer(
    {
      // Slow clients must not hold the proxy: headers within 10 s, a whole request within 5 min.
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
      // One request at a time per connection in flight; pipelined ones wait their turn.
      joinDuplicateHeaders: false,
    },
    handler,
  );
  // Requests Node.js cannot parse never reach the handler: answer them as problems where possible.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (error as { code?: string }).code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const problem = tooLarge
      ? gatewayProblem('malformed-request', 'The request headers are larger than the gateway accepts.', {
          errors: [{ pointer: '', message: 'request headers too large' }],
        })
      : gatewayProblem(
          'malformed-request',
          `The request cannot be parsed as HTTP/1.1 (${error.code ?? 'parse error'}).`,
          {
            errors: [{ pointer: '', message: error.message }],
          },
        );
    const { body } = problemText(problem, '/');
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(
      `HTTP/1.1 ${status}\r\ncontent-type: application/problem+json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  for (const upstream of upstreams.values()) upstream.startChecks();

  return {
    config,
    server,
    upstreams,
    metrics,
    listen: (address = config.listen) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(address.port, address.host, () => {
          server.off('error', reject);
          const bound = server.address();
          resolve(typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : address);
        });
      }),
    close: async (drainMs = 10_000) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), drainMs);
      await closed;
      clearTimeout(timer);
      await Promise.all([...upstreams.values()].map((u) => u.close()));
      await Promise.all([...invokers.values()].map((invoker) => invoker.close()));
      await limiter.close?.();
    },
  };
}
