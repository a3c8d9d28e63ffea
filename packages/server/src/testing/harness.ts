import type { FastifyInstance } from 'fastify';
import { parseConfigText } from '../config/load.js';
import type { TruceConfig } from '../config/types.js';
import { createServer } from '../server.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';

/** A running server on a free loopback port, for tests that go through real HTTP. */
export interface TestServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly config: TruceConfig;
  /** fetch against the server, with a path. */
  request(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** Starts a server for `yaml` (collections etc.) on 127.0.0.1 with an in-memory store unless one is given. */
export async function startTestServer(yaml: string, options: { store?: Store } = {}): Promise<TestServer> {
  const config = parseConfigText(yaml, { baseDir: process.cwd() });
  const store = options.store ?? openSqliteStore({ path: ':memory:' });
  const app = await createServer(config, { store, logger: false });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: address,
    app,
    store,
    config,
    request: (path, init) => fetch(`${address}${path}`, init),
    close: async () => {
      await app.close();
      if (!options.store) await store.close();
    },
  };
}

/** Headers for a JSON body plus extras. */
export function json(body: unknown, headers: Record<string, string> = {}, method = 'PUT'): RequestInit {
  return { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
