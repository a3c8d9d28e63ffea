import pg from 'pg';
import { migrateGatewaySchema, quoteIdentifier } from './postgres-schema.js';

/** The schema the gateway's tables live in unless the storage URL names another (`?schema=`). */
export const DEFAULT_PG_SCHEMA = 'truce_gateway';

/** int8 values arrive as numbers: every one the gateway stores (times, counts, seq) is a safe integer. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 && format !== 'binary') return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** A `postgres://` storage URL split into what libpq understands and the gateway's own `schema`. */
export function parsePostgresUrl(url: string): { connectionString: string; schema: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? DEFAULT_PG_SCHEMA;
  parsed.searchParams.delete('schema');
  quoteIdentifier(schema);
  return { connectionString: parsed.toString(), schema };
}

/** The URL as messages may show it: never the password. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `postgres://${parsed.username ? `${decodeURIComponent(parsed.username)}@` : ''}${parsed.host}${parsed.pathname}`;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/**
 * One connection pool and the migrated schema, shared by the gateway store and the call log of a
 * process. Each user calls `use()` once and `release()` when it closes; the last release ends the pool.
 */
export class PostgresDatabase {
  /** The schema name, quoted for SQL. */
  readonly s: string;
  private users = 0;
  private ended: Promise<void> | undefined;

  constructor(
    readonly pool: pg.Pool,
    readonly schema: string,
  ) {
    this.s = quoteIdentifier(schema);
  }

  /** Counts one more user of the pool. */
  use(): this {
    this.users++;
    return this;
  }

  /** One user is done; the last one ends the pool. */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    this.ended ??= this.pool.end();
    await this.ended;
  }
}

/** Options of {@link openPostgresDatabase}. */
export interface PostgresOptions {
  /** Connections in the pool; default 10. Key lookups take one each; the call log at most two. */
  readonly poolSize?: number;
  /** How long to wait for a connection; default 5 s. */
  readonly connectTimeoutMs?: number;
}

/**
 * Connects, creates the schema when missing and migrates it under an advisory lock (several
 * gateway processes may start at once). Errors name the database without its password.
 */
export async function openPostgresDatabase(
  url: string,
  options: PostgresOptions = {},
): Promise<PostgresDatabase> {
  const { connectionString, schema } = parsePostgresUrl(url);
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    types,
    application_name: 'truce-gateway',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    // A statement that waits this long on a lock or a stalled server is cut, never held for ever.
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
  });
  // A broken idle connection (the server restarted) is dropped; without a listener it would end the process.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    try {
      await migrateGatewaySchema(client, schema);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(
      `PostgreSQL at ${describePostgresUrl(url)} (schema ${schema}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return new PostgresDatabase(pool, schema);
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
