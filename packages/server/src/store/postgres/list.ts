import { decodeCursor, encodeCursor } from '../cursor.js';
import type { JsonPrimitive, ListOptions, ListPage } from '../types.js';
import { HEAD_COLUMNS, type HeadRow, type Queryable, toHead } from './rows.js';

/*
 * Listing with equality filters on PostgreSQL. Each filtered field becomes
 *
 *   EXISTS (SELECT 1 FROM json_each(h.doc::json) AS f WHERE f.key = $k AND f.value::text = ANY($v))
 *
 * Documents are stored as the text JSON.stringify produced, and `json` (unlike `jsonb`) keeps each
 * member's text as written, so a member matches when its text equals JSON.stringify of an accepted
 * value: the JSON type is part of the text ("1" is not 1, true is not 1, null is not a missing
 * member), and JSON.stringify writes each number one way only. Field names and values are bound
 * parameters, so no name needs quoting. The SQL depends only on how many fields are filtered.
 */

const MAX_CACHED_SHAPES = 64;

function buildSql(s: string, afterCursor: boolean, fields: number): string {
  const where = ['h.collection = $1', 'NOT h.deleted'];
  let n = 1;
  if (afterCursor) where.push(`h.id > $${++n}`);
  for (let i = 0; i < fields; i++) {
    const name = ++n;
    const values = ++n;
    where.push(
      `EXISTS (SELECT 1 FROM json_each(h.doc::json) AS f WHERE f.key = $${name} AND f.value::text = ANY($${values}::text[]))`,
    );
  }
  return `SELECT ${HEAD_COLUMNS} FROM ${s}.heads AS h WHERE ${where.join(' AND ')} ORDER BY h.id LIMIT $${++n}`;
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
        field,
        accepted.map((v: JsonPrimitive) => JSON.stringify(v)),
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
