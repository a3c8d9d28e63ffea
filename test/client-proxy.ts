/**
 * A real HTTP proxy in front of a real server, for the faults an SDK must survive and that a healthy
 * server never produces on demand: answers it did not give (503 with Retry-After), and answers that
 * never arrive (the connection dropped after the server committed). Every request that reaches the
 * proxy is recorded with its headers.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request. */
export type Action =
  | { kind: 'forward' }
  /** Forward, let the server commit, then cut the connection before the client sees the answer. */
  | { kind: 'drop-response' }
  /** Forward, let the server commit, then answer this instead of the server's answer. */
  | { kind: 'replace-response'; status: number; headers?: Record<string, string>; body?: unknown }
  /** Forward without these request headers (a server that does not know them). */
  | { kind: 'forward-without'; headers: readonly string[] }
  | { kind: 'answer'; status: number; headers?: Record<string, string>; body?: unknown };

/** One request as the proxy saw it. */
export interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Whether the server's answer has started to come back through the proxy. */
  answered: boolean;
}

export interface Proxy {
  readonly url: string;
  readonly seen: Seen[];
  /** Decides each request's fate; the default forwards everything. */
  rule: (request: Seen, index: number) => Action;
  /** Cuts every open connection (a network failure, or a proxy restart). */
  cutConnections(): void;
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port in front of `target` (a base URL). */
export async function startProxy(target: string): Promise<Proxy> {
  const upstream = new URL(target);
  const proxy: Proxy = {
    url: '',
    seen: [],
    rule: () => ({ kind: 'forward' }),
    cutConnections: () => server.closeAllConnections(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer(async (req, res) => {
    const body = await readAll(req);
    const seen: Seen = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: flat(req),
      body,
      answered: false,
    };
    const index = proxy.seen.push(seen) - 1;
    const action = proxy.rule(seen, index);
    if (action.kind === 'answer') {
      const payload = action.body === undefined ? '' : JSON.stringify(action.body);
      res.writeHead(action.status, { 'content-type': 'application/problem+json', ...action.headers });
      res.end(payload);
      return;
    }
    const headers: Record<string, string> = { ...seen.headers, host: upstream.host };
    if (action.kind === 'forward-without') for (const name of action.headers) delete headers[name];
    const forwarded = httpRequest(
      { hostname: upstream.hostname, port: upstream.port, method: seen.method, path: seen.path, headers },
      (answer) => {
        seen.answered = true;
        if (action.kind === 'drop-response') {
          // The server has answered, so its write is committed; the client never hears of it.
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        if (action.kind === 'replace-response') {
          answer.resume();
          answer.on('end', () => {
            res.writeHead(action.status, { 'content-type': 'application/problem+json', ...action.headers });
            res.end(action.body === undefined ? '' : JSON.stringify(action.body));
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    forwarded.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  (proxy as { url: string }).url = `http://127.0.0.1:${port}`;
  return proxy;
}

function flat(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}
