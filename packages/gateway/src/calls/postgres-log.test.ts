import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { describeWithPostgres, dropSchema, newSchemaName } from '../../../../test/support/postgres.js';
import { openPostgresDatabase, PostgresDatabase } from '../storage/postgres.js';
import { analyticsConformance } from './analytics.suite.js';
import { callLogConformance, type CallLogFixture, callRecord, logConfig } from './conformance.suite.js';
import { HOUR } from './key-rollups.js';
import { PostgresCallLog } from './postgres-log.js';
import { AI_COLUMNS } from './stored-call.js';

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

  it('migration 4 fills the hourly roll-ups from the minutes there are', async () => {
    const schema = newSchemaName('gwh');
    const at = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
    try {
      const t0 = Date.UTC(2026, 0, 2, 9, 0, 0);
      const first = new PostgresCallLog(
        await openPostgresDatabase(at, { poolSize: 2 }),
        logConfig(),
        () => t0,
      );
      for (let i = 0; i < 300; i++)
        first.push(
          callRecord({ time: t0 + i * 30_000, route: i % 2 ? 'shop' : 'orders', durationMs: 1 + (i % 50) }),
        );
      await first.close();
      // As a database at version 3 (before the hourly roll-ups, migration 4, the lifecycle
      // roll-ups, migration 5, and the AI columns, migration 6) would be.
      const db = await openPostgresDatabase(at, { poolSize: 1 });
      await db.pool.query(
        `DROP TABLE ${db.s}.rollup_hours, ${db.s}.lifecycle_rollups; ${dropAiColumns(db.s)}
        UPDATE ${db.s}.schema_version SET version = 3`,
      );
      await db.release();
      const log = new PostgresCallLog(await openPostgresDatabase(at, { poolSize: 2 }), logConfig(), () => t0);
      try {
        const hours = await log.rollups(undefined, t0, t0 + 3 * HOUR, { span: 'hour' });
        expect(hours.map((h) => [h.minute, Number(h.calls)])).toEqual([
          [t0, 60],
          [t0, 60],
          [t0 + HOUR, 60],
          [t0 + HOUR, 60],
          [t0 + 2 * HOUR, 30],
          [t0 + 2 * HOUR, 30],
        ]);
        const minutes = await log.rollups('shop', t0, t0 + HOUR);
        const [shop] = await log.rollups('shop', t0, t0 + HOUR, { span: 'hour' });
        const latency: Record<string, number> = {};
        for (const m of minutes)
          for (const [k, v] of Object.entries(m.latency)) latency[k] = (latency[k] ?? 0) + Number(v);
        expect(Object.fromEntries(Object.entries(shop!.latency).map(([k, v]) => [k, Number(v)]))).toEqual(
          latency,
        );
        expect(shop?.byStatus).toEqual({ '200': 60 });
      } finally {
        await log.close();
      }
    } finally {
      await dropSchema(url, schema);
    }
  });

  it('migration 6 adds the AI columns: calls from before show ai null, new ones keep theirs', async () => {
    const schema = newSchemaName('gwa');
    const at = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
    try {
      const before = callRecord();
      const first = new PostgresCallLog(await openPostgresDatabase(at, { poolSize: 2 }), logConfig());
      first.push(before);
      await first.close();
      const db = await openPostgresDatabase(at, { poolSize: 1 });
      await db.pool.query(`${dropAiColumns(db.s)} UPDATE ${db.s}.schema_version SET version = 5`);
      await db.release();
      const log = new PostgresCallLog(await openPostgresDatabase(at, { poolSize: 2 }), logConfig());
      try {
        const ai = {
          alias: 'fast',
          provider: 'openai',
          model: 'gpt-4o-mini',
          tokensIn: 10,
          tokensOut: 5,
          cost: 0.5,
          estimated: false,
          attempts: 1,
          stream: false,
          ttftMs: null,
          prompt: null,
          promptVersion: null,
          conversation: null,
        };
        const after = callRecord({ ai });
        log.push(after);
        await log.flush();
        expect((await log.get(before.id))?.['ai']).toBeNull();
        expect((await log.get(after.id))?.['ai']).toEqual(ai);
      } finally {
        await log.close();
      }
    } finally {
      await dropSchema(url, schema);
    }
  });
});

/** SQL that takes migration 6's columns away again, as a database from before it. */
function dropAiColumns(s: string): string {
  return `ALTER TABLE ${s}.calls ${AI_COLUMNS.map((c) => `DROP COLUMN ${c}`).join(', ')};`;
}

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
