import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { analyticsConformance } from './analytics.suite.js';
import { callLogConformance, type CallLogFixture, callRecord, logConfig } from './conformance.suite.js';
import { HOUR } from './key-rollups.js';
import { SqliteCallLog } from './sqlite-log.js';
import { AI_COLUMNS } from './stored-call.js';

// A file, not `:memory:`: two writers need two connections to one database.
const sqliteFile = async (): Promise<CallLogFixture> => {
  const dir = mkdtempSync(join(tmpdir(), 'truce-gw-log-'));
  return {
    open: async (log, now) => new SqliteCallLog(join(dir, 'gateway.db'), log, now),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
};
callLogConformance('sqlite file', sqliteFile);
analyticsConformance('sqlite file', sqliteFile);

describe('sqlite call log from before the hourly roll-ups', () => {
  it('fills the hourly roll-ups from the minutes on open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'truce-gw-log-'));
    const file = join(dir, 'gateway.db');
    try {
      const t0 = Date.UTC(2026, 0, 2, 9, 0, 0);
      const first = new SqliteCallLog(file, logConfig(), () => t0);
      const records = Array.from({ length: 300 }, (_, i) =>
        callRecord({ time: t0 + i * 30_000, route: i % 2 ? 'shop' : 'orders', durationMs: 1 + (i % 50) }),
      );
      for (const r of records) first.push(r);
      await first.close();
      const db = new Database(file);
      db.exec('DROP TABLE rollup_hours');
      db.close();
      const log = new SqliteCallLog(file, logConfig(), () => t0);
      try {
        const hours = await log.rollups(undefined, t0, t0 + 3 * HOUR, { span: 'hour' });
        expect(hours.map((h) => [h.minute, h.calls])).toEqual([
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
          for (const [k, v] of Object.entries(m.latency)) latency[k] = (latency[k] ?? 0) + v;
        expect(shop?.latency).toEqual(latency);
      } finally {
        await log.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite call log from before the AI columns', () => {
  it('adds them on open: calls from before show ai null, new ones keep theirs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'truce-gw-log-'));
    const file = join(dir, 'gateway.db');
    try {
      const before = callRecord();
      const first = new SqliteCallLog(file, logConfig());
      first.push(before);
      await first.close();
      const db = new Database(file);
      db.exec('DROP INDEX calls_ai');
      for (const c of AI_COLUMNS) db.exec(`ALTER TABLE calls DROP COLUMN ${c}`);
      db.close();
      const log = new SqliteCallLog(file, logConfig());
      try {
        const ai = {
          alias: 'fast',
          provider: 'openai',
          model: 'gpt-4o-mini',
          tokensIn: 10,
          tokensOut: 5,
          cost: 0.5,
          estimated: true,
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
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
