import { isAbsolute, resolve } from 'node:path';
import type { CallLog } from '../calls/log.js';
import { PostgresCallLog } from '../calls/postgres-log.js';
import { SqliteCallLog } from '../calls/sqlite-log.js';
import type { GatewayConfig } from '../config/types.js';
import { PostgresGatewayStore } from '../store/postgres.js';
import { SqliteGatewayStore } from '../store/sqlite.js';
import type { GatewayStore } from '../store/types.js';
import { openPostgresDatabase } from './postgres.js';

/** The gateway's storage as one process opens it: the store, and the call log where it is written. */
export interface GatewayStorage {
  readonly store: GatewayStore;
  readonly calls: CallLog;
  /** Flushes the call log and closes both. */
  close(): Promise<void>;
}

/** Whether the storage URL names PostgreSQL. */
export function isPostgresStorage(storage: string): boolean {
  return /^postgres(ql)?:\/\//.test(storage);
}

/** The SQLite file a `sqlite:` storage URL names, resolved against the configuration's folder. */
export function sqlitePath(config: GatewayConfig): string {
  const target = config.storage.slice('sqlite:'.length);
  return target === ':memory:' || isAbsolute(target) ? target : resolve(config.baseDir, target);
}

/**
 * Opens what `storage` names (SPEC 5.1): `sqlite:<path>` (one file, WAL) or `postgres://...`
 * (one pool for both, the schema created or migrated first; `?schema=` picks the schema, default
 * `truce_gateway`).
 */
export async function openStorage(config: GatewayConfig): Promise<GatewayStorage> {
  const { store, calls } = await open(config, true);
  return {
    store,
    calls: calls!,
    close: async () => {
      await calls?.close();
      await store.close();
    },
  };
}

/** The store alone, for proxy workers: their call records go to the primary, which writes them. */
export async function openStore(config: GatewayConfig): Promise<GatewayStore> {
  return (await open(config, false)).store;
}

async function open(
  config: GatewayConfig,
  withLog: boolean,
): Promise<{ store: GatewayStore; calls: CallLog | undefined }> {
  let store: GatewayStore;
  let calls: CallLog | undefined;
  if (isPostgresStorage(config.storage)) {
    const db = await openPostgresDatabase(config.storage);
    db.use(); // held until both are built, so a failure between them still ends the pool
    try {
      store = new PostgresGatewayStore(db);
      calls = withLog ? new PostgresCallLog(db, config.log) : undefined;
    } finally {
      await db.release();
    }
  } else if (config.storage.startsWith('sqlite:')) {
    ({ store, calls } = await whileBusy(() => openSqlite(sqlitePath(config), config, withLog)));
  } else {
    throw new Error(`storage must be sqlite:<path> or postgres://...; got ${config.storage.split(':')[0]}:`);
  }
  return { store, calls };
}

/** Opens the SQLite store and call log of one file; on failure closes what it opened. */
function openSqlite(
  path: string,
  config: GatewayConfig,
  withLog: boolean,
): { store: GatewayStore; calls: CallLog | undefined } {
  const store = new SqliteGatewayStore(path);
  try {
    return { store, calls: withLog ? new SqliteCallLog(path, config.log) : undefined };
  } catch (error) {
    void store.close();
    throw error;
  }
}

/** How long processes opening one SQLite file at once may keep each other out before one gives up. */
const OPEN_BUSY_MS = 10_000;

/**
 * Runs `open` again while SQLite answers SQLITE_BUSY, for up to {@link OPEN_BUSY_MS}. Processes
 * that start together on a new file race to set up its WAL and schema, and some of those steps
 * (changing the journal mode, a read that becomes a write) fail at once instead of waiting for
 * the busy timeout.
 */
async function whileBusy<T>(open: () => T): Promise<T> {
  const deadline = Date.now() + OPEN_BUSY_MS;
  for (let pause = 20; ; pause = Math.min(pause * 2, 500)) {
    try {
      return open();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
    }
  }
}
