import { decodeCursor, encodeCursor } from '../cursor.js';
import type { JsonPrimitive, ListOptions, ListPage } from '../types.js';
import { HEAD_COLUMNS, type HeadRow, type Queryable, toHead } from './rows.js';

/*
 * Listing with equality filters on PostgreSQL. Each filtered field becomes
 *
 *   EXISTS (SELECT 1 FROM json_each(<doc>::json) AS f WHERE f.key = $k AND f.value::text = ANY($v))
 *
 * Documents are stored as the text JSON.stringify produced, and `json` (unlike `jsonb`) keeps each
 * member's text as written, so a member matches when its text equals JSON.stringify of an accepted
 * value: the JSON type is part of the text ("1" is not 1, true is not 1, null is not a missing
 * member), and JSON.stringify writes each number one way only. Field names and values are bound
 * parameters, so no name needs quoting. The SQL depends only on how many fields are filtered.
 *
 * json_each decodes every string of the document, and PostgreSQL text holds neither U+0000 nor a
 * lone surrogate: a document with `\u0000` or an unpaired `\ud800` (valid JSON, which SQLite serves)
 * would fail every filtered list of its collection (22P05, 22P02). Such documents are filtered
 * through `safe`, a rewrite of their text that is one-to-one and leaves no such escape:
 *
 *   ESC -> ESC ESC,   `\\` -> ESC b,   `\u0000` -> ESC 0000,   `\udXYZ` (a surrogate) -> ESC dXYZ
 *
 * where ESC is U+E000. Replacing escaped backslashes before the `\u` escapes leaves every remaining
 * backslash at the start of an escape, so the last rewrite cannot take `\\u0000` (a backslash then
 * "u0000") for a NUL. The same rewrite of the field names and string values (`safeText`) is what
 * such documents are compared with, so matching stays exact; other documents, the usual case, are
 * compared as they are, without the cost of the rewrite.
 */

const MAX_CACHED_SHAPES = 64;

/** The escape character of the rewrite (a private-use character). */
const ESC = '\uE000';

/** Documents holding an escape that json_each cannot decode (or a harmless look-alike such as `\\u0000`). */
const NEEDS_REWRITE = String.raw`h.doc ~ '\\u(0000|d[89a-f])'`;

const SAFE_DOC = String.raw`regexp_replace(replace(replace(h.doc, chr(57344), chr(57344) || chr(57344)), '\\', chr(57344) || 'b'),
      '\\u(0000|d[89a-f][0-9a-f]{2})', chr(57344) || '\1', 'g')`;

/** The rewrite of a JavaScript string that matches SAFE_DOC's rewrite of its JSON text. */
export function safeText(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0xe000) out += ESC + ESC;
    else if (c === 0x5c) out += `${ESC}b`;
    else if (c === 0) out += `${ESC}0000`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) {
      // A pair is a character of its own; JSON.stringify writes it as is.
      out += text.slice(i, i + 2);
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += ESC + c.toString(16);
    else out += text[i];
  }
  return out;
}

/** U+0000 or a lone surrogate: what PostgreSQL text cannot hold (node-postgres would send U+FFFD). */
const unstorable = (text: string) => text.includes('\u0000') || /\p{Cs}/u.test(text);

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function safeValue(value: JsonPrimitive): JsonPrimitive {
  return typeof value === 'string' ? safeText(value) : value;
}

function buildSql(s: string, afterCursor: boolean, fields: number): string {
  const where = ['h.collection = $1', 'NOT h.deleted'];
  let n = 1;
  if (afterCursor) where.push(`h.id > $${++n}`);
  for (let i = 0; i < fields; i++) {
    const [name, values, safeName, safeValues] = [++n, ++n, ++n, ++n];
    where.push(
      `EXISTS (SELECT 1 FROM json_each(coalesce(g.safe, h.doc)::json) AS f
        WHERE f.key = CASE WHEN g.safe IS NULL THEN $${name} ELSE $${safeName} END
          AND f.value::text = ANY(CASE WHEN g.safe IS NULL THEN $${values}::text[] ELSE $${safeValues}::text[] END))`,
    );
  }
  // The rewrite, when needed, is computed once per row for all the filters.
  const from =
    fields === 0
      ? `${s}.heads AS h`
      : `${s}.heads AS h CROSS JOIN LATERAL (SELECT CASE WHEN ${NEEDS_REWRITE} THEN ${SAFE_DOC} END AS safe) AS g`;
  return `SELECT ${HEAD_COLUMNS} FROM ${from} WHERE ${where.join(' AND ')} ORDER BY h.id LIMIT $${++n}`;
}

/** Builds the `list` function of a store over schema `s` (quoted). */
export function createList(
  s: string,
): (db: Queryable, collection: string, options: ListOptions) => Promise<ListPage> {
  const names = new Map<string, string>();
  return async (db, collection, options) => {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new RangeError('limit must be an integer from 1 to 1000.');
    }
    const values: unknown[] = [collection];
    const afterCursor = options.cursor !== undefined;
    if (options.cursor !== undefined) values.push(decodeCursor(collection, options.cursor));
    const filters = Object.entries(options.filters ?? {});
    for (const [field, accepted] of filters) {
      values.push(
        // A name PostgreSQL text cannot hold matches no document that needs no rewrite.
        unstorable(field) ? null : field,
        accepted.map((v: JsonPrimitive) => JSON.stringify(v)),
        safeText(field),
        accepted.map((v: JsonPrimitive) => JSON.stringify(safeValue(v))),
      );
    }
    // One row more than asked tells whether another page exists without a second query.
    values.push(limit + 1);
    const shape = `${afterCursor ? 'after' : 'first'}_${filters.length}`;
    // Shapes are few in practice; only those seen first get a prepared statement of their own.
    let name = names.get(shape);
    if (name === undefined && names.size < MAX_CACHED_SHAPES) {
      name = `truce_list_${shape}`;
      names.set(shape, name);
    }
    const text = buildSql(s, afterCursor, filters.length);
    const result = await db.query<HeadRow>(name === undefined ? { text, values } : { name, text, values });
    const rows = result.rows;
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(toHead);
    const last = items[items.length - 1];
    return { items, next: more && last !== undefined ? encodeCursor(collection, last.id) : null };
  };
}
