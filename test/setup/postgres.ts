// Vitest global setup: gives the test workers a PostgreSQL URL, or null when there is none.
// TRUCE_TEST_PG_URL names an existing server; otherwise a throwaway cluster is started for the run
// (installing PostgreSQL with apt-get first when it is missing and this is root) and stopped after.
// Without PostgreSQL the suites that need it are skipped with one loud line, unless
// TRUCE_REQUIRE_POSTGRES=1 (CI) makes that a failure.
import { Client } from 'pg';
import type { TestProject } from 'vitest/node';
import { locatePostgresBin, startPostgresCluster } from '../../scripts/postgres-cluster.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The URL of a PostgreSQL database for tests, or null when PostgreSQL suites are skipped. */
    'truce.pgUrl': string | null;
  }
}

/** Durability off: a test cluster is thrown away, and commits need not wait for the disk. */
const TEST_SETTINGS = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };

const log = (message: string) => console.error(`[postgres] ${message}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TRUCE_TEST_PG_URL;
  if (external) {
    await checkAnswers(external);
    log('using TRUCE_TEST_PG_URL');
    project.provide('truce.pgUrl', external);
    return async () => {};
  }

  const located = await locatePostgresBin({ install: true, log });
  if (located.binDir === null) return unavailable(project, located.reason);
  let cluster;
  try {
    cluster = await startPostgresCluster({ binDir: located.binDir, settings: TEST_SETTINGS, log });
  } catch (error) {
    // The first line says what failed; the rest (initdb or server output) goes above the loud line.
    const [what = 'unknown error', ...details] = (error as Error).message.split('\n');
    if (details.length > 0) log(details.join('\n'));
    return unavailable(project, `starting a cluster failed: ${what}`);
  }
  project.provide('truce.pgUrl', cluster.url);
  return cluster.stop;
}

function unavailable(project: TestProject, reason: string): () => Promise<void> {
  if (process.env.TRUCE_REQUIRE_POSTGRES === '1')
    throw new Error(`PostgreSQL is required (TRUCE_REQUIRE_POSTGRES=1) but unavailable: ${reason}`);
  console.error(`!!! PostgreSQL suites SKIPPED: ${reason} (set TRUCE_TEST_PG_URL or install postgresql) !!!`);
  project.provide('truce.pgUrl', null);
  return async () => {};
}

async function checkAnswers(url: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(`TRUCE_TEST_PG_URL does not answer: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}
