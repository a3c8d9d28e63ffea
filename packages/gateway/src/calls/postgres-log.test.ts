import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { describeWithPostgres, dropSchema, newSchemaName } from '../../../../test/support/postgres.js';
import { openPostgresDatabase, PostgresDatabase } from '../storage/postgres.js';
import { analyticsConformance } from './analytics.suite.js';
import { callLogConformance, type CallLogFixture, callRecord, logConfig } from './conformance.suite.js';
import { PostgresCallLog } from './postgres-log.js';

describeWithPostgres('postgres call log', (url) => {
  // Each log has a pool of its own, as two gateway processes would; one schema per test.
  const fixture = async (): Promise<CallLogFixture> => {
    const schema = newSchemaName('gwl');
    const at = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
    return {
      open: async (log, now) =>
        new PostgresCallLog(await openPostgresDatabase(at, { poolSize: 4 }), log, now),
      dispose: () => dropSchema(url, schema),
    };
  };
  callLogConformance('postgres', fixture);
  analyticsConformance('postgres', fixture);
});

describe('postgres call log without a database', () => {
  it('never makes push wait or throw: records are dropped and counted, the queue stays bounded', async () => {
    // Nothing listens on port 1: every batch fails to connect, as with PostgreSQL down.
    const pool = new pg.Pool({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectionTimeoutMillis: 500,
    });
    pool.on('error', () => undefined);
    const log = new PostgresCallLog(new PostgresDatabase(pool, 'truce_gateway'), logConfig());
    const records = Array.from({ length: 25_000 }, () => callRecord());
    const started = performance.now();
    for (const r of records) log.push(r);
    expect(performance.now() - started).toBeLessThan(500);
    // 20,000 queued and one batch of 2,000 taken by the writer: the rest is dropped at once.
    expect(log.stats.dropped).toBe(3_000);
    await log.flush();
    expect(log.stats.written).toBe(0);
    expect(log.stats.dropped).toBe(25_000);
    await log.close();
  });
});
