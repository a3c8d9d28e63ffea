// PostgreSQL for the benchmarks. TRUCE_BENCH_PG_URL names a server to use as it is; otherwise a
// throwaway cluster is started with PostgreSQL's durable defaults (fsync, synchronous_commit and
// full_page_writes on, unlike the test cluster), so that its numbers compare with durable SQLite.
// One database serves the whole run: it is started by the first side that needs it and stopped
// by run.mjs at the end (and, for a throwaway cluster, when the bench exits in any other way).
// Every side gets a schema of its own, dropped when the side stops.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { locatePostgresBin, startPostgresCluster } from '../../scripts/postgres-cluster.mjs';

export { startPostgresCluster };

// The driver @truce/server itself uses, resolved from there: the bench only drops its schemas (and
// creates and drops pgbench's scratch database, lib/pgbench.mjs).
export const pg = createRequire(import.meta.resolve('@truce/server'))('pg');

/**
 * A PostgreSQL database for a benchmark run: `stop()` removes a cluster started here and leaves a
 * TRUCE_BENCH_PG_URL server alone. `binDir` is the folder of PostgreSQL's binaries (null when a
 * TRUCE_BENCH_PG_URL run finds none here); `dataDir` is the throwaway cluster's (undefined for a
 * TRUCE_BENCH_PG_URL server, whose processes the bench does not know).
 * @param {{ log?: (message: string) => void }} [options]
 * @returns {Promise<BenchDatabase>}
 *
 * @typedef {{ url: string, external: boolean, binDir: string | null, dataDir?: string, stop: () => Promise<void> }} BenchDatabase
 */
export async function benchPostgres({ log = () => {} } = {}) {
  const url = process.env.TRUCE_BENCH_PG_URL;
  if (url) {
    const { binDir } = await locatePostgresBin();
    return { url, external: true, binDir, stop: async () => {} };
  }
  const unavailable = await postgresUnavailable();
  if (unavailable) throw new Error(unavailable);
  const cluster = await startPostgresCluster({ log });
  return {
    url: cluster.url,
    external: false,
    binDir: cluster.binDir,
    dataDir: cluster.dataDir,
    stop: cluster.stop,
  };
}

/** Why the PostgreSQL scenarios cannot run here, or null when they can. Installs nothing. */
export async function postgresUnavailable() {
  if (process.env.TRUCE_BENCH_PG_URL) return null;
  const { reason } = await locatePostgresBin();
  return reason && `${reason}; install PostgreSQL (apt-get install postgresql) or set TRUCE_BENCH_PG_URL`;
}

/** Connections per server process: the server's default unless BENCH_PG_POOL_SIZE says otherwise. */
export function benchPoolSize() {
  const text = process.env.BENCH_PG_POOL_SIZE;
  if (text === undefined || text === '') return undefined;
  const size = Number(text);
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`BENCH_PG_POOL_SIZE must be an integer >= 1, not "${text}"`);
  return size;
}

/** @type {Promise<BenchDatabase> | undefined} */
let shared;

/** The run's database, started on first use. */
export function benchDatabase(log) {
  shared ??= benchPostgres({ log });
  return shared;
}

/**
 * The process id of the throwaway cluster's postmaster (the first line of its postmaster.pid), whose
 * children are all of PostgreSQL's processes; undefined for a TRUCE_BENCH_PG_URL server or before
 * the cluster is started.
 */
export async function benchPostmasterPid() {
  const database = await shared?.catch(() => undefined);
  if (!database?.dataDir) return undefined;
  try {
    const pid = Number(readFileSync(join(database.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the run's database was, for the notes under the table: where it came from, its version and
 * its durability settings as the server reports them. Undefined when none was started.
 */
export async function describeBenchDatabase() {
  const database = await shared?.catch(() => undefined);
  if (!database) return undefined;
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const show = async (name) => (await client.query(`SHOW ${name}`)).rows[0][name];
    const version = (await show('server_version')).split(' ')[0];
    const where = database.external ? 'TRUCE_BENCH_PG_URL' : 'a throwaway cluster';
    return (
      `${where}, PostgreSQL ${version}, fsync ${await show('fsync')}, ` +
      `synchronous_commit ${await show('synchronous_commit')}, full_page_writes ${await show('full_page_writes')}`
    );
  } finally {
    await client.end();
  }
}

/** Stops the run's database if one was started; safe to call when none was. */
export async function stopBenchDatabase() {
  const started = shared;
  shared = undefined;
  const database = await started?.catch(() => undefined);
  await database?.stop();
}

/**
 * A fresh schema for one side, named after it (`bench_<pid>_<random>_<label>`); the server creates
 * it when it starts. `drop()` removes it with everything in it.
 * @returns {Promise<{ url: string, external: boolean, schema: string, drop: () => Promise<void>, analyze: () => Promise<void> }>}
 */
export async function openBenchSchema(label, log) {
  const { url, external } = await benchDatabase(log);
  const tail = label.toLowerCase().replace(/[^a-z0-9]+/g, '_');
  const schema = `bench_${process.pid}_${randomBytes(3).toString('hex')}_${tail}`.slice(0, 63);
  /** Runs one statement on a connection of its own; `sql` gets the schema's quoted name. */
  const once = async (sql) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql(client.escapeIdentifier(schema)));
    } finally {
      await client.end();
    }
  };
  const drop = () => once((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE`);
  /**
   * ANALYZE of the tables the server's statements join (heads, changes), once seeded: what
   * autovacuum does within a minute of a fresh schema's first writes. Until then the server plans
   * those statements at each run (packages/server/src/store/postgres/statements.ts, REPLANNED); the
   * rows measure the steady state, not a schema's first minute. Sides with nothing to seed (D1-PG,
   * M1-PG) wait for autovacuum as a deployment would.
   */
  const analyze = () => once((s) => `ANALYZE ${s}.heads, ${s}.changes`);
  return { url, external, schema, drop, analyze };
}
