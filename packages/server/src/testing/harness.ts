import type { FastifyInstance } from 'fastify';
import { parseConfigText } from '../config/load.js';
import type { TruceConfig } from '../config/types.js';
import { createServer } from '../server.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DelegatingStore } from '../store/delegating.js';
import { openPostgresStore } from '../store/postgres/postgres-store.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';

let schemas = 0;

/**
 * A fresh, empty store for a test: SQLite in memory, or, when `TRUCE_TEST_STORE=postgres`, a schema
 * of its own in the PostgreSQL database at `TRUCE_TEST_PG_URL`, dropped when the store is closed.
 * The test command runs the HTTP suites once with each (scripts/test.mjs).
 */
export async function openTestStore(): Promise<Store> {
  if (process.env['TRUCE_TEST_STORE'] !== 'postgres') return openSqliteStore({ path: ':memory:' });
  const url = process.env['TRUCE_TEST_PG_URL'];
  if (!url) throw new Error('TRUCE_TEST_STORE=postgres needs TRUCE_TEST_PG_URL (see docs/testing.md).');
  const schema = `http_${process.pid}_${++schemas}_${randomBytes(4).toString('hex')}`;
  const store = await openPostgresStore({ url, schema, poolSize: 8 });
  return new (class extends DelegatingStore {
    override async close(): Promise<void> {
      await super.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    }
  })(store);
}

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

/** Starts a server for `yaml` (collections etc.) on 127.0.0.1 with a fresh {@link openTestStore} unless one is given. */
export async function startTestServer(yaml: string, options: { store?: Store } = {}): Promise<TestServer> {
  const config = parseConfigText(yaml, { baseDir: process.cwd() });
  const store = options.store ?? (await openTestStore());
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
