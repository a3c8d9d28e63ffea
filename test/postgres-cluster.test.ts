// The PostgreSQL test infrastructure itself, through a real server: the cluster the global setup
// provides, schemas per test, and a cluster's whole life from start to nothing left behind.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findPostgresBin, startPostgresCluster } from '../scripts/postgres-cluster.mjs';
import { describeWithPostgres, dropSchema, newSchemaName } from './support/postgres.js';

/** With TRUCE_TEST_PG_URL the server is someone else's: its settings are not ours to check. */
const ours = !process.env.TRUCE_TEST_PG_URL;
const binDir = await findPostgresBin();

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  await client.connect();
  return client;
}

describeWithPostgres('PostgreSQL test infrastructure', (url) => {
  let client: Client;
  beforeAll(async () => {
    client = await connect(url);
  });
  afterAll(async () => {
    await client?.end();
  });

  it('answers as PostgreSQL 15 or newer', async () => {
    const { rows } = await client.query<{ version: string; num: string }>(
      "SELECT version(), current_setting('server_version_num') AS num",
    );
    expect(rows[0]?.version).toMatch(/^PostgreSQL \d+/);
    expect(Number(rows[0]?.num)).toBeGreaterThanOrEqual(150000);
  });

  it.skipIf(!ours)(
    `listens on 127.0.0.1 only, with the test settings${ours ? '' : ' (skipped: TRUCE_TEST_PG_URL is not our cluster)'}`,
    async () => {
      const setting = async (name: string) =>
        (await client.query<{ value: string }>('SELECT current_setting($1) AS value', [name])).rows[0]?.value;
      expect(await setting('listen_addresses')).toBe('127.0.0.1');
      expect(await setting('fsync')).toBe('off');
      expect(await setting('synchronous_commit')).toBe('off');
      expect(await setting('full_page_writes')).toBe('off');
      expect(Number(await setting('max_connections'))).toBeGreaterThanOrEqual(300);
    },
  );

  it('makes unique schema names that need no quoting', () => {
    const names = Array.from({ length: 100 }, () => newSchemaName('store'));
    expect(new Set(names).size).toBe(100);
    for (const name of names) {
      expect(name).toMatch(/^store_\d+_\d+_[0-9a-f]+$/);
      expect(name.length).toBeLessThanOrEqual(63);
    }
  });

  it('keeps fresh schemas apart, and dropSchema removes one with everything in it', async () => {
    const [a, b] = [newSchemaName(), newSchemaName()];
    try {
      for (const [schema, value] of [
        [a, 'in a'],
        [b, 'in b'],
      ] as const) {
        await client.query(`CREATE SCHEMA ${schema}`);
        await client.query(`CREATE TABLE ${schema}.items (value text NOT NULL)`);
        await client.query(`INSERT INTO ${schema}.items VALUES ($1)`, [value]);
      }
      expect((await client.query(`SELECT value FROM ${a}.items`)).rows).toEqual([{ value: 'in a' }]);
      expect((await client.query(`SELECT value FROM ${b}.items`)).rows).toEqual([{ value: 'in b' }]);

      await dropSchema(url, a);
      const exists = async (schema: string) =>
        (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1;
      expect(await exists(a)).toBe(false);
      expect(await exists(b)).toBe(true);
      expect((await client.query(`SELECT value FROM ${b}.items`)).rows).toEqual([{ value: 'in b' }]);
      await dropSchema(url, a); // already gone: no error
    } finally {
      await dropSchema(url, a);
      await dropSchema(url, b);
    }
  });

  it.skipIf(binDir === null)(
    `starts a cluster of its own and stops it without a trace${binDir ? '' : ' (skipped: no local PostgreSQL binaries)'}`,
    async () => {
      const cluster = await startPostgresCluster(binDir ? { binDir } : {});
      const own = await connect(cluster.url);
      try {
        expect((await own.query('SELECT current_database() AS db')).rows).toEqual([{ db: 'truce' }]);
        if (process.getuid?.() === 0) {
          // PostgreSQL refuses root: the server's files belong to the postgres user.
          const postgresUid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
          expect(statSync(cluster.dataDir).uid).toBe(postgresUid);
        }
      } finally {
        await own.end();
      }
      // restart() is for a cluster that was killed (test/postgres-crash.test.ts), not a running one.
      expect(cluster.pid()).toEqual(expect.any(Number));
      await expect(cluster.restart()).rejects.toThrow(/still runs/);
      await cluster.stop();
      expect(existsSync(dirname(cluster.dataDir))).toBe(false);
      await expect(connect(cluster.url)).rejects.toThrow(/ECONNREFUSED/);
      await cluster.stop(); // a second stop is a no-op
      await expect(cluster.restart()).rejects.toThrow(/stopped/);
      expect(cluster.pid()).toBeNull();
    },
    60_000, // initdb slows down a lot on a busy machine
  );
});
