#!/usr/bin/env node
// Runs the whole vitest suite and ends with one plain summary line ("tests: N passed, N failed"),
// which CI reads. Exits non-zero when any run failed.
//
// Two runs share one throwaway PostgreSQL cluster (docs/testing.md):
// 1. every test, with the HTTP suites on SQLite and the PostgreSQL suites on the cluster;
// 2. the HTTP suites and the SPEC 8 scenarios again, each server on PostgreSQL (TRUCE_TEST_STORE).
// Without PostgreSQL the second run is skipped, loudly (a failure when TRUCE_REQUIRE_POSTGRES=1).
// Both runs also share one throwaway redis-server (TRUCE_TEST_REDIS_URL), for the Redis suites.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { locatePostgresBin, startPostgresCluster } from './postgres-cluster.mjs';
import { locateRedisServer, startRedisServer } from './redis-server.mjs';

/** Durability off: the cluster is thrown away, and commits need not wait for the disk. */
const TEST_SETTINGS = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };
/** What run 2 repeats against PostgreSQL. */
const HTTP_SUITES = ['packages/server/src/http', 'test/scenarios.test.ts'];

const log = (message) => console.error(`[postgres] ${message}`);
const args = process.argv.slice(2);

let cluster;
let pgUrl = process.env.TRUCE_TEST_PG_URL;
if (!pgUrl) {
  const located = await locatePostgresBin({ install: true, log });
  if (located.binDir !== null) {
    try {
      cluster = await startPostgresCluster({ binDir: located.binDir, settings: TEST_SETTINGS, log });
      pgUrl = cluster.url;
    } catch (error) {
      log(`could not start a cluster: ${error.message}`);
    }
  }
  // Without a URL, run 1's global setup looks again and says why the PostgreSQL suites are skipped.
}

// One throwaway Redis for the whole run (the shared rate-limit suites); likewise, without one the
// global setup (test/setup/redis.ts) says why they are skipped, or fails with TRUCE_REQUIRE_REDIS=1.
let redis;
let redisUrl = process.env.TRUCE_TEST_REDIS_URL;
if (!redisUrl) {
  const redisLog = (message) => console.error(`[redis] ${message}`);
  const located = await locateRedisServer({ install: true, log: redisLog });
  if (located.binary !== null) {
    try {
      redis = await startRedisServer({ binary: located.binary, log: redisLog });
      redisUrl = redis.url;
    } catch (error) {
      redisLog(`could not start redis-server: ${error.message}`);
    }
  }
}

function vitest(label, results, files, env) {
  console.log(`\n=== ${label} ===`);
  rmSync(results, { force: true });
  const run = spawnSync(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${results}`,
      ...files,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  let counts = { passed: 0, failed: 0, skipped: 0, ok: false };
  try {
    const r = JSON.parse(readFileSync(results, 'utf8'));
    counts = {
      passed: r.numPassedTests,
      failed: r.numFailedTests,
      skipped: r.numPendingTests + r.numTodoTests,
      ok: run.status === 0,
    };
  } catch {
    // vitest crashed before writing results; its exit code says so
  }
  rmSync(results, { force: true });
  return { ...counts, ok: counts.ok && run.status === 0, status: run.status };
}

const runs = [];
try {
  const pgEnv = {
    ...(pgUrl ? { TRUCE_TEST_PG_URL: pgUrl } : {}),
    ...(redisUrl ? { TRUCE_TEST_REDIS_URL: redisUrl } : {}),
  };
  runs.push(vitest('all tests (HTTP suites on SQLite)', '.vitest-results.json', args, pgEnv));
  if (pgUrl && args.length === 0) {
    runs.push(
      vitest('HTTP suites and scenarios on PostgreSQL', '.vitest-results-pg.json', HTTP_SUITES, {
        ...pgEnv,
        TRUCE_TEST_STORE: 'postgres',
      }),
    );
  } else if (!pgUrl) {
    const why = '!!! HTTP suites on PostgreSQL SKIPPED: no PostgreSQL (see the lines above) !!!';
    console.error(why);
    if (process.env.TRUCE_REQUIRE_POSTGRES === '1')
      runs.push({ passed: 0, failed: 1, skipped: 0, ok: false });
  }
} finally {
  await cluster?.stop();
  await redis?.stop();
}

const sum = (key) => runs.reduce((total, r) => total + r[key], 0);
const skipped = sum('skipped');
console.log(
  `tests: ${sum('passed')} passed, ${sum('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`,
);
process.exit(runs.every((r) => r.ok) ? 0 : 1);
