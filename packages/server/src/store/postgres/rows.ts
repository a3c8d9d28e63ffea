import type { QueryConfig, QueryResultRow } from 'pg';
import type { ChangeRecord, Head, JsonObject, VersionRecord } from '../types.js';

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
  readonly name: string;
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

/** A `heads` row; `bigint` columns arrive as numbers (see the pool's type parser). */
export interface HeadRow {
  collection: string;
  id: string;
  version: number;
  etag: string;
  deleted: boolean;
  doc: string | null;
  created_at: number;
  updated_at: number;
  updated_by: string | null;
}

/** A `heads` row with what only a write needs: the start and floor of its history. */
export interface WriteHeadRow extends HeadRow {
  last_seq: number | null;
  history_from: number;
}

/** A version record's row, from `changes`. */
export interface HistoryRow {
  version: number;
  etag: string;
  op: VersionRecord['op'];
  doc: string | null;
  created_at: number;
  at: number;
  by: string | null;
}

/** A `changes` row. */
export interface ChangeRow {
  seq: number;
  collection: string;
  id: string;
  op: ChangeRecord['op'];
  version: number;
  etag: string;
  doc: string | null;
  at: number;
  by: string | null;
}

/** The `heads` columns, in {@link HeadRow} order. */
export const HEAD_COLUMNS = 'collection, id, version, etag, deleted, doc, created_at, updated_at, updated_by';
/** The `changes` columns, in {@link ChangeRow} order. */
export const CHANGE_COLUMNS = 'seq, collection, id, op, version, etag, doc, at, by';

function parseDoc(text: string | null): JsonObject | null {
  return text === null ? null : (JSON.parse(text) as JsonObject);
}

/** Maps a `heads` row to the interface type; each call parses a fresh copy of the document. */
export function toHead(row: HeadRow): Head {
  return {
    collection: row.collection,
    id: row.id,
    version: row.version,
    etag: row.etag,
    deleted: row.deleted,
    doc: parseDoc(row.doc),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
  };
}

/** Maps a history row to the interface type. */
export function toVersionRecord(row: HistoryRow): VersionRecord {
  return {
    version: row.version,
    etag: row.etag,
    op: row.op,
    doc: parseDoc(row.doc),
    createdAt: row.created_at,
    at: row.at,
    by: row.by,
  };
}

/** Maps a `changes` row to the interface type. */
export function toChangeRecord(row: ChangeRow): ChangeRecord {
  return {
    seq: row.seq,
    collection: row.collection,
    id: row.id,
    op: row.op,
    version: row.version,
    etag: row.etag,
    doc: parseDoc(row.doc),
    at: row.at,
    by: row.by,
  };
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
