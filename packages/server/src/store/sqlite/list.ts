import type Database from 'better-sqlite3';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { JsonPrimitive, ListOptions, ListPage } from '../types.js';
import { HEAD_COLUMNS, type HeadRow, toHead } from './statements.js';

/*
 * Filters compare top-level members of the stored JSON text. Each filtered field becomes
 *
 *   EXISTS (SELECT 1 FROM json_each(h.doc) AS f WHERE f.key = ? AND ((type = ? AND atom IS ?) OR ...))
 *
 * json_each rather than json_extract with a `$."name"` path: the member name is then an ordinary
 * bound parameter compared as a whole, so names such as `a"b`, `$.x` or `a.b` need no quoting at
 * all, and a name containing U+0000 cannot be cut short (SQLite's path labels stop at NUL; tried).
 * Comparing the JSON type as well as the value keeps "1" apart from 1, true apart from 1, and null
 * apart from a missing member. 'integer' and 'real' are one type, as in JSON.
 *
 * The SQL depends only on the shape of the filters (how many fields, how many values each), never
 * on their content, so statements are cached by shape.
 */

const MAX_CACHED_SHAPES = 64;

type TypedValue = [type: string, value: string | number | null];

/** JSON type (as json_each reports it, numbers folded into 'real') and SQL value of a filter value. */
function typed(value: JsonPrimitive): TypedValue {
  if (value === null) return ['null', null];
  if (value === true) return ['true', 1];
  if (value === false) return ['false', 0];
  if (typeof value === 'number') return ['real', value];
  return ['text', value];
}

function buildSql(afterCursor: boolean, valueCounts: readonly number[]): string {
  const where = ['h.collection = ?', 'h.deleted = 0'];
  if (afterCursor) where.push('h.id > ?');
  for (const count of valueCounts) {
    const alternatives = Array.from(
      { length: count },
      () => "(replace(f.type, 'integer', 'real') = ? AND f.atom IS ?)",
    );
    // An empty list of accepted values matches nothing.
    const match = count === 0 ? '0' : alternatives.join(' OR ');
    where.push(`EXISTS (SELECT 1 FROM json_each(h.doc) AS f WHERE f.key = ? AND (${match}))`);
  }
  return `SELECT ${HEAD_COLUMNS} FROM heads AS h WHERE ${where.join(' AND ')} ORDER BY h.id LIMIT ?`;
}

/** Builds the `list` function of a connection. */
export function createList(db: Database.Database): (collection: string, options: ListOptions) => ListPage {
  const cache = new Map<string, Database.Statement<unknown[], HeadRow>>();

  const statementFor = (afterCursor: boolean, valueCounts: readonly number[]) => {
    const key = `${afterCursor ? 'after' : 'first'}:${valueCounts.join(',')}`;
    let statement = cache.get(key);
    if (statement === undefined) {
      // Shapes are few in practice; the bound only protects against clients inventing many.
      if (cache.size >= MAX_CACHED_SHAPES) cache.clear();
      statement = db.prepare<unknown[], HeadRow>(buildSql(afterCursor, valueCounts));
      cache.set(key, statement);
    }
    return statement;
  };

  return (collection, options) => {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new RangeError('limit must be an integer from 1 to 1000.');
    }
    const params: unknown[] = [collection];
    const afterCursor = options.cursor !== undefined;
    if (options.cursor !== undefined) params.push(decodeCursor(collection, options.cursor));
    const valueCounts: number[] = [];
    for (const [field, values] of Object.entries(options.filters ?? {})) {
      valueCounts.push(values.length);
      params.push(field);
      for (const value of values) params.push(...typed(value));
    }
    // One row more than asked tells whether another page exists without a second query.
    params.push(limit + 1);

    const rows = statementFor(afterCursor, valueCounts).all(...params);
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(toHead);
    const last = items[items.length - 1];
    return { items, next: more && last !== undefined ? encodeCursor(collection, last.id) : null };
  };
}
