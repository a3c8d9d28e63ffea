import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { describeWithPostgres, dropSchema, newSchemaName } from '../../../../../test/support/postgres.js';
import { StoreBusyError, type WriteOp } from '../types.js';
import { openPostgresStore, type PostgresStore } from './postgres-store.js';
import { PG_SCHEMA_VERSION } from './schema.js';

/*
 * What only the PostgreSQL adapter has: a schema migrated by processes starting together, answers
 * when PostgreSQL makes a transaction wait or gives up on it, and the NOTIFY other processes hear.
 * The behaviour every store shares is in the conformance suite (postgres-store.test.ts).
 */

const increment = (id: string, by = 1): WriteOp => ({
  collection: 'things',
  id,
  expectVersion: null,
  doc: null,
  increment: { pointer: '/n', by },
  actor: null,
  keepHistory: 10,
});
const put = (id: string, doc: WriteOp['doc']): WriteOp => ({
  collection: 'things',
  id,
  expectVersion: 0,
  doc,
  actor: null,
  keepHistory: 10,
});

describeWithPostgres('postgres store: what only it has', (url) => {
  const schemas: string[] = [];
  const fresh = () => {
    const schema = newSchemaName('pgonly');
    schemas.push(schema);
    return schema;
  };
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(url, schema);
  });

  async function query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  it('eight processes opening one new schema at once all start; it is migrated once', async () => {
    const schema = fresh();
    const stores = await Promise.all(
      Array.from({ length: 8 }, () => openPostgresStore({ url, schema, poolSize: 2 })),
    );
    try {
      const rows = await query<{ version: number }>(`SELECT version FROM "${schema}".schema_version`);
      expect(rows).toStrictEqual([{ version: PG_SCHEMA_VERSION }]);
      // All of them work on the same tables.
      await stores[0]!.commit([put('a', { n: 1 })]);
      for (const store of stores) expect((await store.get('things', 'a'))?.version).toBe(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('a schema written by a newer Truce is refused', async () => {
    const schema = fresh();
    await (await openPostgresStore({ url, schema })).close();
    await query(`UPDATE "${schema}".schema_version SET version = $1`, [PG_SCHEMA_VERSION + 1]);
    await expect(openPostgresStore({ url, schema })).rejects.toThrow(/newer than this Truce supports/);
  });

  it('a row lock held past lockTimeoutMs is a StoreBusyError, and nothing is written', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, lockTimeoutMs: 200 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await store.commit([put('held', { n: 1 })]);
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM "${schema}".heads WHERE id = 'held' FOR UPDATE`);
      const error = await store.commit([increment('held')]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreBusyError);
      expect((error as StoreBusyError).retryAfterSeconds).toBeGreaterThan(0);
      await holder.query('ROLLBACK');
      expect((await store.get('things', 'held'))?.doc).toStrictEqual({ n: 1 });
      expect(await store.lastSeq()).toBe(1);
    } finally {
      await holder.end();
      await store.close();
    }
  });

  it('deadlocks between commits locking two resources in opposite orders are retried away', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 4 });
    try {
      await store.commit([put('x', { n: 0 }), put('y', { n: 0 })]);
      const deadlocks = async () =>
        (
          await query<{ n: number }>(
            'SELECT deadlocks::integer AS n FROM pg_stat_database WHERE datname = current_database()',
          )
        )[0]!.n;
      const before = await deadlocks();
      // Each pair of opposite commits may deadlock; PostgreSQL aborts one, the store runs it again.
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all([
          store.commit([increment('x'), increment('y')]),
          store.commit([increment('y'), increment('x')]),
        ]);
        expect(results.every((r) => r.ok)).toBe(true);
      }
      expect((await store.get('things', 'x'))?.doc).toStrictEqual({ n: 6 });
      expect((await store.get('things', 'y'))?.doc).toStrictEqual({ n: 6 });
      // The statistics are sent by the backends in the background: wait for the count to move.
      for (let i = 0; i < 40 && (await deadlocks()) === before; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(await deadlocks()).toBeGreaterThan(before);
    } finally {
      await store.close();
    }
  }, 30_000);

  it('a commit through one store wakes watchers of another store on the same schema', async () => {
    const schema = fresh();
    const [a, b]: PostgresStore[] = await Promise.all([
      openPostgresStore({ url, schema }),
      openPostgresStore({ url, schema }),
    ]);
    try {
      let woken = 0;
      const heard = new Promise<void>((resolve) => {
        const stop = a.watchCommits(() => {
          woken++;
          stop();
          resolve();
        });
      });
      // Give the listening connection time to LISTEN, then commit through the other store.
      for (let i = 0; woken === 0 && i < 50; i++) {
        await b.commit([{ ...put(`w${i}`, { i }) }]);
        await Promise.race([heard, new Promise((r) => setTimeout(r, 100))]);
      }
      await heard;
      expect(woken).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
