import { InvalidCursorError } from './types.js';

/*
 * List cursors are keyset positions: the last id a page returned, plus the collection, so that a
 * cursor pasted into another collection's URL is refused instead of silently skipping items. They
 * are opaque to clients (base64url of a small JSON array) and decoding is strict: anything that is
 * not exactly what `encodeCursor` produces is rejected, so cursors stay ours to change later.
 */

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The cursor that continues a listing of `collection` after the resource with id `lastId`. */
export function encodeCursor(collection: string, lastId: string): string {
  return Buffer.from(JSON.stringify([collection, lastId]), 'utf8').toString('base64url');
}

/**
 * The id after which a listing of `collection` continues.
 *
 * @throws InvalidCursorError when the cursor was not issued by {@link encodeCursor} for this collection.
 */
export function decodeCursor(collection: string, cursor: string): string {
  if (!BASE64URL.test(cursor)) throw new InvalidCursorError('The cursor is not base64url.');
  const bytes = Buffer.from(cursor, 'base64url');
  // Buffer's decoder ignores trailing garbage bits; re-encoding catches cursors that were altered.
  if (bytes.toString('base64url') !== cursor) throw new InvalidCursorError('The cursor is malformed.');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new InvalidCursorError('The cursor is malformed.');
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    typeof value[0] !== 'string' ||
    typeof value[1] !== 'string'
  ) {
    throw new InvalidCursorError('The cursor is malformed.');
  }
  if (value[0] !== collection) throw new InvalidCursorError('The cursor belongs to another collection.');
  // No id holds U+0000 or a lone surrogate (PostgreSQL text cannot), so no cursor we issued does.
  if (value[1].includes('\u0000') || /\p{Cs}/u.test(value[1]))
    throw new InvalidCursorError('The cursor is malformed.');
  return value[1];
}
