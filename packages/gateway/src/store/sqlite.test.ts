import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayStoreConformance } from './conformance.suite.js';
import { SqliteGatewayStore } from './sqlite.js';

// A file, not `:memory:`: the races need two connections to one database.
gatewayStoreConformance('sqlite file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'truce-gw-store-'));
  return {
    open: async () => new SqliteGatewayStore(join(dir, 'gateway.db')),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
