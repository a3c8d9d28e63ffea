// The sides of a scenario: the servers it compares, each in its own child process, started and
// seeded the same way. B1 and B2 compare the bare baseline with Truce; a scenario may name other
// variants (U1 adds a Truce reference without unique constraints; M1 and I1 run Truce on both sides;
// the PostgreSQL scenarios run Truce on SQLite and on PostgreSQL with one, two and four processes).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './child.mjs';
import { createCpuMeter } from './cpu.mjs';
import { benchPoolSize, benchPostmasterPid, openBenchSchema } from './postgres.mjs';
import { makeResources, seed } from './resources.mjs';

const SERVERS = {
  baseline: fileURLToPath(new URL('../servers/baseline.mjs', import.meta.url)),
  truce: fileURLToPath(new URL('../servers/truce.mjs', import.meta.url)),
};

/**
 * B1's and B2's sides. `variant` names the routes (baseline) or the collections (Truce) the
 * server starts with; see servers/.
 * @type {Record<string, import('../scenarios/scenario.mjs').Side>}
 */
const DEFAULT_SIDES = {
  baseline: { server: 'baseline', variant: 'things' },
  truce: { server: 'truce', variant: 'things' },
};

/** The scenario's sides, in the order they are started and, round by round, measured. */
export function sidesOf(scenario) {
  return scenario.sides ?? DEFAULT_SIDES;
}

/**
 * Starts one side's server and seeds the scenario's resources on it. A Truce server gets a fresh
 * temporary folder for its database, and runs with `--cpu-prof` when asked. A PostgreSQL side gets
 * a fresh schema in the run's database and `processes` servers on it (started one after the other,
 * so the first creates the schema); `server.url` is the first, which seeds and checks, and
 * `server.urls` all of them, over which the load is spread; `server.pids` are their process ids.
 */
export async function startSide(scenario, name, settings, tempDirs) {
  const { server: kind, variant, store, processes = 1 } = sidesOf(scenario)[name];
  const dataDir = kind === 'truce' ? mkdtempSync(join(tmpdir(), 'truce-bench-')) : undefined;
  if (dataDir) tempDirs.add(dataDir);
  const profile = kind === 'truce' && settings.cpuProfDir !== undefined;
  const database =
    store === 'postgres'
      ? await openBenchSchema(`${scenario.id}_${name}`, (line) => console.error(`  ${line}`))
      : undefined;
  const pool = database && benchPoolSize();
  const servers = [];
  try {
    for (let i = 1; i <= processes; i++) {
      servers.push(
        await startServer({
          label: processes > 1 ? `${scenario.id} ${name}.${i}` : `${scenario.id} ${name}`,
          script: SERVERS[kind],
          args: dataDir ? [dataDir, variant] : [variant],
          nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfDir}`] : [],
          // Empty for SQLite, whatever the bench's own environment holds.
          env: {
            TRUCE_BENCH_STORAGE: database?.url ?? '',
            TRUCE_BENCH_PG_SCHEMA: database?.schema ?? '',
            TRUCE_BENCH_PG_POOL_SIZE: pool === undefined ? '' : String(pool),
          },
        }),
      );
    }
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    await database?.drop().catch(() => undefined);
    throw error;
  }
  const server = {
    ...servers[0],
    urls: servers.map((s) => s.url),
    pids: servers.map((s) => s.pid),
    stop: async () => void (await Promise.all(servers.map((s) => s.stop()))),
  };
  const resources = makeResources(scenario.resources);
  const state = { name, server, dataDir, database, resources, dirty: false };
  try {
    await seed(server.url, resources);
    // What autovacuum does within a minute of the first writes; never of empty tables.
    if (resources.length > 0) await database?.analyze();
  } catch (error) {
    await stopSide(state, tempDirs);
    throw error;
  }
  return state;
}

/** Stops the server (every process of it), removes its database folder and drops its schema. */
export async function stopSide(state, tempDirs) {
  await state.server.stop();
  if (state.dataDir) {
    rmSync(state.dataDir, { recursive: true, force: true });
    tempDirs.delete(state.dataDir);
  }
  await state.database?.drop();
}

/** Where a side's load goes: its one server, or its processes' URLs, each taking its share of connections. */
export function loadTarget(server) {
  return server.urls.length === 1 ? server.urls[0] : server.urls;
}

/**
 * The CPU meter of a scenario whose sides are started (lib/cpu.mjs): the PostgreSQL rows also
 * count the CPU of the run's throwaway cluster, if there is one.
 */
export async function cpuMeterFor(scenario) {
  return createCpuMeter(scenario.table === 'postgres' ? await benchPostmasterPid() : undefined);
}

/** ABBA order: forwards in even rounds, backwards in odd ones, so slow drift favours no side. */
export function roundOrder(names, round) {
  return round % 2 === 0 ? names : [...names].reverse();
}
