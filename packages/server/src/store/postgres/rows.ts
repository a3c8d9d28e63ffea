import type { QueryConfig, QueryResultRow } from 'pg';
import type { HeadRow } from '../records.js';

export {
  CHANGE_COLUMNS,
  type ChangeRow,
  HEAD_COLUMNS,
  type HeadRow,
  type HistoryRow,
  toChangeRecord,
  toHead,
  toVersionRecord,
} from '../records.js';

/** Anything that runs queries: a pool or a client checked out of it. */
export interface Queryable {
  query<R extends QueryResultRow>(config: QueryConfig): Promise<{ rows: R[]; rowCount: number | null }>;
  query<R extends QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

/**
 * A statement of a store, named so that each connection prepares (parses and plans) it once and
 * then only binds parameters. Names are per connection, and every connection of a pool belongs to
 * one store, so they need only be unique within a store.
 */
export interface Statement {
  /** Undefined: sent unnamed, so planned at each execution (statements.ts, REPLANNED). */
  readonly name: string | undefined;
  readonly text: string;
}

/** Runs a named statement with positional parameters. */
export async function run<R extends QueryResultRow>(
  db: Queryable,
  statement: Statement,
  values: readonly unknown[],
): Promise<R[]> {
  const result = await db.query<R>({ name: statement.name, text: statement.text, values: [...values] });
  return result.rows;
}

/** A `heads` row with what only a write needs: the start and floor of its history. */
export interface WriteHeadRow extends HeadRow {
  last_seq: number | null;
  history_from: number;
}

/**
 * PostgreSQL text cannot hold U+0000, which Truce's own strings may (an idempotency scope separates
 * actor and route with it). This encoding is injective and leaves strings without NUL or backslash
 * as they are: `\` becomes `\\` and NUL becomes `\0`.
 */
export function escapeNul(text: string): string {
  return text.includes('\u0000') || text.includes('\\')
    ? text.replaceAll('\\', '\\\\').replaceAll('\u0000', '\\0')
    : text;
}

/** The inverse of {@link escapeNul}. */
export function unescapeNul(text: string): string {
  return text.includes('\\')
    ? text.replace(/\\(\\|0)/g, (_, c: string) => (c === '0' ? '\u0000' : '\\'))
    : text;
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
