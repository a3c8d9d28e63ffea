/**
 * Arrays merged element by element (a merge policy's `arrays`), like Kubernetes' strategic merge:
 * elements are matched across base, yours and theirs by a merge key member, or by their whole value
 * for set-like arrays, and each matched element is then merged three ways like any other value.
 *
 * @internal Nothing here is re-exported from the package entry point.
 */
import type { JsonValue } from '../json.js';
import { hasMember, isJsonObject } from '../json.js';

/**
 * Merges one element, given its value on each side (`undefined` where that side does not have it)
 * and its positions in theirs and in yours; returns the merged element or `undefined` to drop it.
 */
export type MergeElement = (
  base: JsonValue | undefined,
  yours: JsonValue | undefined,
  theirs: JsonValue | undefined,
  theirsIndex: number | undefined,
  yoursIndex: number | undefined,
) => JsonValue | undefined;

/**
 * Merges three versions of an array whose elements are identified by the member `key`, or by value
 * when `key` is `null`.
 *
 * The result lists theirs' elements in theirs' order, then the elements only yours has, in yours'
 * order; an element either side removed is gone unless the other side edited it (which
 * `mergeElement` reports as a conflict). A reordering made only by yours is therefore not kept when
 * theirs changed the array too.
 *
 * Returns `undefined`, before merging anything, when the elements cannot be matched: an element
 * without the key (or that is not an object) or two elements with the same identity in one array.
 * The caller then treats the array as atomic.
 */
export function mergeKeyedArray(
  base: readonly JsonValue[],
  yours: readonly JsonValue[],
  theirs: readonly JsonValue[],
  key: string | null,
  mergeElement: MergeElement,
): JsonValue[] | undefined {
  const inBase = identify(base, key);
  const inYours = identify(yours, key);
  const inTheirs = identify(theirs, key);
  if (inBase === undefined || inYours === undefined || inTheirs === undefined) return undefined;

  const out: JsonValue[] = [];
  const visit = (id: string): void => {
    const b = inBase.get(id);
    const y = inYours.get(id);
    const t = inTheirs.get(id);
    const merged = mergeElement(
      b === undefined ? undefined : base[b],
      y === undefined ? undefined : yours[y],
      t === undefined ? undefined : theirs[t],
      t,
      y,
    );
    if (merged !== undefined) out.push(merged);
  };
  // Maps iterate in insertion order, which is each array's own order. Elements only the base has
  // were removed on both sides and are not visited at all.
  for (const id of inTheirs.keys()) visit(id);
  for (const id of inYours.keys()) if (!inTheirs.has(id)) visit(id);
  return out;
}

// Identity -> position, or undefined when some element has no identity or shares one.
function identify(array: readonly JsonValue[], key: string | null): Map<string, number> | undefined {
  const positions = new Map<string, number>();
  for (const [index, element] of array.entries()) {
    let identity: string;
    if (key === null) identity = canonicalJson(element);
    else if (isJsonObject(element) && hasMember(element, key))
      identity = canonicalJson(element[key] as JsonValue);
    else return undefined;
    if (positions.has(identity)) return undefined;
    positions.set(identity, index);
  }
  return positions;
}

/**
 * JSON text that is equal for values {@link deepEqual} calls equal: members sorted by name, numbers
 * as `JSON.stringify` writes them (`1.0` and `1` both give `1`, `-0` gives `0`).
 */
function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isJsonObject(value)) {
    const members = Object.keys(value)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(value[name] as JsonValue)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}
