import { randomBytes } from 'node:crypto';
import type { Page } from './types.js';

/** An id that sorts by creation time: a kind prefix, the time in base 36, then 64 random bits. */
export function newId(kind: string, now: number): string {
  return `${kind}_${now.toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}

/** An opaque list cursor from the last id of a page, and back. */
export function encodeCursor(lastId: string | number): string {
  return Buffer.from(String(lastId), 'utf8').toString('base64url');
}

/** The id a cursor stands for; undefined for a cursor that is not one of ours. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return undefined;
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

/** A page of `limit` rows from `limit + 1` read: the extra row only says there is a next page. */
export function page<T>(rows: T[], limit: number, idOf: (row: T) => string | number): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, next: more ? encodeCursor(idOf(items[items.length - 1]!)) : null };
}
