import type { ChangeRecord, Head, JsonObject, Lease, LeaseRequest, VersionRecord } from './types.js';

/*
 * The rows both adapters read back, and their mapping to the Store's types: the tables have the
 * same columns on SQLite and PostgreSQL (SQLite keeps booleans as 0 and 1). Lease rules that do not
 * depend on the database are here too.
 */

/** A `heads` row. */
export interface HeadRow {
  collection: string;
  id: string;
  version: number;
  etag: string;
  deleted: boolean | 0 | 1;
  doc: string | null;
  created_at: number;
  updated_at: number;
  updated_by: string | null;
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
    deleted: row.deleted === true || row.deleted === 1,
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

/** A `leases` row. */
export interface LeaseRow {
  token: string | null;
  owner: string | null;
  fencing: number;
  ttl_ms: number;
  expires_at: number;
}

/** True when the row holds a lease live at `now`. */
export function isLiveLease(row: LeaseRow | undefined, now: number): row is LeaseRow & { token: string } {
  return row !== undefined && row.token !== null && row.expires_at > now;
}

/**
 * Checks what no store can make sense of.
 *
 * @throws RangeError for a time that is not a number or a ttl that is not a positive integer.
 */
export function checkLeaseRequest(r: LeaseRequest): void {
  if (!Number.isFinite(r.now)) throw new RangeError('now must be a finite number (epoch milliseconds).');
  const ttl = r.action === 'acquire' ? r.ttlMs : undefined;
  if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl < 1)) {
    throw new RangeError('ttlMs must be a positive integer.');
  }
}

/** The lease a live row holds. */
export function toLease(collection: string, id: string, row: LeaseRow & { token: string }): Lease {
  return {
    collection,
    id,
    token: row.token,
    owner: row.owner,
    fencing: row.fencing,
    ttlMs: row.ttl_ms,
    expiresAt: row.expires_at,
  };
}

/** Token equality that takes as long whatever the first differing character: timing tells a guesser nothing. */
export function sameToken(held: string, shown: string | null): boolean {
  if (shown === null || held.length !== shown.length) return false;
  let diff = 0;
  for (let i = 0; i < held.length; i++) diff |= held.charCodeAt(i) ^ shown.charCodeAt(i);
  return diff === 0;
}
