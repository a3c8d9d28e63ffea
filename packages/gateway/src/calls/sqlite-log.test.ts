import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyticsConformance } from './analytics.suite.js';
import { callLogConformance, type CallLogFixture } from './conformance.suite.js';
import { SqliteCallLog } from './sqlite-log.js';

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
