import type { CollectionConfig, UniqueConstraint } from '../config/types.js';
import type { JsonObject, JsonValue, UniqueKey } from '../store/types.js';

/**
 * Unicode default case folding (CaseFolding.txt, statuses C and F) for case-insensitive
 * uniqueness. JavaScript has no fold, but mapping each character to upper case and back to lower
 * case gives the same equivalence classes for every character except the dotless ı, which folding
 * keeps apart from i (only Turkic-specific folding, status T, joins them). Canonically equivalent
 * spellings (é as one character or e plus a combining accent) are the same value; compatibility
 * variants (x² and x2, full-width letters) are not.
 */
export function caseFold(value: string): string {
  let out = '';
  for (const ch of value.normalize('NFC')) out += ch === '\u0131' ? ch : ch.toUpperCase().toLowerCase();
  return out.normalize('NFC');
}

/** The values of a constraint's fields in a document, or undefined when one is missing or null. */
export function constrainedValues(constraint: UniqueConstraint, doc: JsonObject): JsonValue[] | undefined {
  const values: JsonValue[] = [];
  for (const field of constraint.fields) {
    const value = Object.hasOwn(doc, field) ? doc[field] : undefined;
    // As in SQL, a missing or null value takes part in no uniqueness comparison.
    if (value === undefined || value === null) return undefined;
    values.push(value);
  }
  return values;
}

/**
 * The unique keys a document holds, for the store's unique index; undefined when the collection
 * has no constraints (the store then skips the index entirely).
 */
export function uniqueKeysOf(collection: CollectionConfig, doc: JsonObject): UniqueKey[] | undefined {
  if (collection.unique.length === 0) return undefined;
  const keys: UniqueKey[] = [];
  for (const constraint of collection.unique) {
    const values = constrainedValues(constraint, doc);
    if (!values) continue;
    keys.push({ constraint: constraint.name, key: encodeKey(values, constraint.caseInsensitive) });
  }
  return keys;
}

/** Canonical text of the values: JSON with sorted object keys, strings folded when asked. */
function encodeKey(values: JsonValue[], fold: boolean): string {
  return JSON.stringify(values.map((v) => canonical(v, fold)));
}

function canonical(value: JsonValue, fold: boolean): JsonValue {
  if (typeof value === 'string') return fold ? caseFold(value) : value;
  if (Array.isArray(value)) return value.map((v) => canonical(v, fold));
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {};
    for (const key of Object.keys(value).sort()) {
      Object.defineProperty(out, key, {
        value: canonical(value[key]!, fold),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
