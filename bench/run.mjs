#!/usr/bin/env node
// Truce benchmarks (SPEC section 7): each scenario runs against a bare Fastify baseline and
// against Truce, in the same run, on this machine; the table shows Truce as a ratio of the
// baseline (and of a reference Truce setup, where a scenario has one). M1 and I1 compare two ways
// of using Truce instead: their baseline is Truce with If-Match retries (M1) or plain POSTs (I1),
// not Fastify. Benchmarks are never part of the test suite's pass or fail: this exits 0 whether
// or not a target is met, and non-zero only when the bench itself could not run. The PostgreSQL
// rows (B1-PG, U1-PG, D1-PG, M1-PG) go in a second table: Truce on SQLite and on PostgreSQL with
// one, two and four processes (scenarios/postgres-variants.mjs), and `pgbench -N` on the same
// cluster, run once before the first of them (lib/pgbench.mjs); they need PostgreSQL's server
// binaries or TRUCE_BENCH_PG_URL, and without either a run of every scenario leaves them out.
//
// Environment: BENCH_DURATION (measured seconds per side and scenario, default 10), BENCH_ROUNDS
// (how many alternating slices those seconds are cut into, default 5), BENCH_WARMUP (unmeasured
// seconds per side first, default 2), BENCH_SCENARIOS (e.g. `B1`, default all), BENCH_CPU_PROF (a
// folder: the Truce servers run with `node --cpu-prof` and write their profiles there),
// TRUCE_BENCH_PG_URL (a PostgreSQL database to use instead of a throwaway cluster),
// BENCH_PG_POOL_SIZE (connections per PostgreSQL server process, default the server's).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllServers } from './lib/child.mjs';
import { measureScenario } from './lib/measure.mjs';
import {
  benchPoolSize,
  describeBenchDatabase,
  postgresUnavailable,
  stopBenchDatabase,
} from './lib/postgres.mjs';
import { measurePgbench } from './lib/pgbench.mjs';
import { measureRounds } from './lib/race.mjs';
import { measureWriters } from './lib/writers.mjs';
import { formatDetails, formatNotes, formatTable, judge, writeJson } from './lib/report.mjs';
import { sidesOf } from './lib/sides.mjs';
import {
  formatStoresDetails,
  formatStoresNotes,
  formatStoresTable,
  judgeStores,
  storesJson,
} from './lib/stores-report.mjs';
import { scenarios } from './scenarios/scenario.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const RESULTS = join(here, 'results/latest.json');

const MEASURE = { timed: measureScenario, rounds: measureRounds, writers: measureWriters };

const settings = readSettings(process.env);
const tempDirs = new Set();

// Children must not outlive the bench, whatever ends it.
process.on('exit', () => {
  killAllServers();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping`);
    process.exit(130);
  });
}
// Bounded in time: a hung server or load run cannot keep the bench going forever.
const budgetSec = settings.scenarios.reduce(
  (sum, s) =>
    sum +
    Object.keys(sidesOf(s)).length * (settings.warmupSec + settings.durationSec + 60) +
    (s.extraBudgetSec ?? 0),
  // pgbench, once, before the first PostgreSQL row.
  settings.scenarios.some((s) => s.table === 'postgres') ? settings.warmupSec + settings.durationSec + 60 : 0,
);
globalThis
  .setTimeout(() => {
    console.error(`bench: gave up after ${budgetSec} s`);
    process.exit(1);
  }, budgetSec * 1000)
  .unref();

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  // A throwaway cluster also goes on any other exit; this is the orderly way.
  await stopBenchDatabase().catch((error) => console.error(error));
}
process.exit();

async function main() {
  // Anything else running shares the two CPUs with the bench; the load average says how much.
  const loadBefore = Number(loadavg()[0].toFixed(2));
  console.error(
    `Truce bench: ${settings.durationSec} s measured per side in ${settings.rounds} alternating slices, ` +
      `after ${settings.warmupSec} s warm-up; ` +
      `${cpus().length} CPUs, Node.js ${process.version}, load average ${loadBefore}; ` +
      'load generator and server share the CPUs.',
  );
  const onPostgres = (scenario) => scenario.table === 'postgres';
  let selected = settings.scenarios;
  const unavailable = selected.some(onPostgres) ? await postgresUnavailable() : null;
  if (unavailable && !settings.named) {
    console.error(`!!! PostgreSQL scenarios SKIPPED: ${unavailable}`);
    selected = selected.filter((scenario) => !onPostgres(scenario));
  }
  const rows = [];
  /** `pgbench -N` on the same database, measured once, before the first PostgreSQL row. */
  let pgbench;
  for (const scenario of selected) {
    const measure = scenario.measure ?? MEASURE[scenario.kind ?? 'timed'];
    if (onPostgres(scenario) && pgbench === undefined) pgbench = await measurePgbench(settings, progress);
    try {
      const sides = await measure(scenario, settings, tempDirs, progress);
      const verdict = onPostgres(scenario) ? judgeStores(scenario, sides, pgbench) : judge(scenario, sides);
      rows.push({ scenario, sides, verdict });
    } catch (error) {
      // One scenario that cannot run must not take the others' results with it.
      console.error(error);
      rows.push({ scenario, error: error instanceof Error ? error.message : String(error) });
      process.exitCode = 1;
    }
  }

  const sqliteRows = rows.filter((row) => !onPostgres(row.scenario));
  const postgresRows = rows.filter((row) => onPostgres(row.scenario));
  if (sqliteRows.length > 0) {
    console.log(`\n${formatTable(sqliteRows)}`);
    for (const detail of formatDetails(sqliteRows)) console.log(`  ${detail}`);
    for (const note of formatNotes(sqliteRows)) console.log(`! ${note}`);
  }
  const postgresSetup = postgresRows.length > 0 && {
    database: await describeBenchDatabase().catch(() => undefined),
    poolSize: benchPoolSize(),
    pgbench,
    cpus: cpus().length,
    loadAverage: loadBefore,
  };
  if (postgresRows.length > 0) {
    console.log(`\n${formatStoresTable(postgresRows)}`);
    for (const detail of formatStoresDetails(postgresRows, postgresSetup)) console.log(`  ${detail}`);
    for (const note of formatStoresNotes(postgresRows)) console.log(`! ${note}`);
  }

  await writeJson(RESULTS, {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAverage1mBefore: loadBefore,
    },
    source: sourceVersion(),
    settings: { durationSec: settings.durationSec, rounds: settings.rounds, warmupSec: settings.warmupSec },
    scenarios: Object.fromEntries(
      sqliteRows.map(({ scenario, sides, verdict, error }) => [
        scenario.id,
        error !== undefined
          ? { title: scenario.title, error }
          : {
              title: scenario.title,
              connections: scenario.connections,
              resources: scenario.resources,
              ...(scenario.race && { race: scenario.race }),
              ...(scenario.writers && { writers: scenario.writers }),
              target: scenario.target ?? null,
              ...(scenario.rate && { ratioOf: scenario.rate }),
              ratio: round(verdict.ratio, 4),
              ...(verdict.vsReference !== undefined && { ratioToReference: round(verdict.vsReference, 4) }),
              met: verdict.met,
              valid: verdict.valid,
              unexpectedResponses: verdict.unexpected,
              ...sides,
            },
      ]),
    ),
    ...(postgresRows.length > 0 && { postgres: storesJson(postgresRows, postgresSetup) }),
  });
  console.log(`\nresults written to ${RESULTS}`);
  if (settings.cpuProfDir !== undefined) {
    console.log(
      `Truce CPU profiles in ${settings.cpuProfDir}; summarise one with node profile-summary.mjs <file>`,
    );
  }
}

function readSettings(env) {
  const number = (name, fallback, min) => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min)
      throw new Error(`${name} must be a number >= ${min}, not "${text}"`);
    return value;
  };
  const wanted = (env.BENCH_SCENARIOS ?? '')
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const unknown = wanted.filter((id) => !scenarios.some((s) => s.id === id));
  if (unknown.length > 0) throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')}`);
  return {
    durationSec: Math.floor(number('BENCH_DURATION', 10, 1)),
    rounds: Math.floor(number('BENCH_ROUNDS', 5, 1)),
    warmupSec: number('BENCH_WARMUP', 2, 0),
    scenarios: wanted.length > 0 ? scenarios.filter((s) => wanted.includes(s.id)) : scenarios,
    named: wanted.length > 0,
    cpuProfDir: env.BENCH_CPU_PROF ? resolve(env.BENCH_CPU_PROF) : undefined,
  };
}

/** The commit measured, and whether packages/ had uncommitted changes (then the numbers are for those). */
function sourceVersion() {
  const git = (...args) => execFileSync('git', args, { cwd: here, encoding: 'utf8', stdio: 'pipe' }).trim();
  try {
    return {
      commit: git('rev-parse', 'HEAD'),
      packagesChanged: git('status', '--porcelain', '--', '../packages') !== '',
    };
  } catch {
    return { commit: 'unknown', packagesChanged: null };
  }
}

function progress(message) {
  console.error(`  ${message}`);
}

function round(n, digits) {
  return Number(n.toFixed(digits));
}
