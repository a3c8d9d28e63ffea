// Helpers for tests that need PostgreSQL. The URL comes from the global setup (test/setup/postgres.ts);
// each test works in schemas of its own, so suites run in parallel on one database.
import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier } from 'pg';
import { describe, inject } from 'vitest';

/** The URL of the test database, or null when PostgreSQL is unavailable and its suites are skipped. */
export function pgUrl(): string | null {
  // undefined when the run was configured without the global setup
  return inject('truce.pgUrl') ?? null;
}

/** Handed to skipped suites, whose tests never run: connecting to it fails plainly. */
const UNAVAILABLE_URL = 'postgres://postgresql-unavailable.invalid/truce';

/**
 * `describe` for suites that need PostgreSQL: `fn` receives the database URL. Without PostgreSQL the
 * suite is registered as skipped, with the reason in its name, and its tests count as skipped.
 */
export function describeWithPostgres(name: string, fn: (url: string) => void): void {
  const url = pgUrl();
  if (url === null)
    describe.skip(`${name} (skipped: no PostgreSQL; see the test setup's output)`, () => fn(UNAVAILABLE_URL));
  else describe(name, () => fn(url));
}

let schemas = 0;

/**
 * A schema name no other test (in this or another worker process) uses: `<prefix>_<pid>_<n>_<random>`,
 * lowercase, so it needs no quoting in SQL.
 */
export function newSchemaName(prefix = 't'): string {
  if (!/^[a-z_][a-z0-9_]{0,20}$/.test(prefix))
    throw new Error(`schema prefix must be short lowercase SQL: ${prefix}`);
  return `${prefix}_${process.pid}_${++schemas}_${randomBytes(4).toString('hex')}`;
}

/** Drops a schema and everything in it; a schema that does not exist is no error. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
