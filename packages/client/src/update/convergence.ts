/**
 * Places both sides changed to the same value. A three-way merge takes such a place as agreement
 * (SPEC 3.7: "identical changes on both sides are not conflicts"), which is right for edits and
 * wrong for values computed from the old one: two clients that both turned a counter's 5 into 6
 * agree on 6, and one increment is lost. `update`'s default resolver, `'rerun'`, treats these places
 * as conflicts and runs the mutator again on the current version.
 */
import { deepEqual, formatPointer, isJsonObject, type JsonValue } from '@truce/protocol';

/** JSON Pointers of the places where ours changed the base and theirs made the very same change. */
export function convergentPlaces(
  base: JsonValue | undefined,
  ours: JsonValue | undefined,
  theirs: JsonValue | undefined,
): string[] {
  const found: string[] = [];
  visit(base, ours, theirs, [], found);
  return found;
}

function visit(
  base: JsonValue | undefined,
  ours: JsonValue | undefined,
  theirs: JsonValue | undefined,
  path: string[],
  found: string[],
): void {
  if (same(base, ours)) return;
  if (same(ours, theirs)) {
    found.push(formatPointer(path));
    return;
  }
  if (!isJsonObject(ours) || !isJsonObject(theirs)) return;
  const before = isJsonObject(base) ? base : {};
  for (const key of new Set([...Object.keys(ours), ...Object.keys(before)])) {
    visit(member(before, key), member(ours, key), member(theirs, key), [...path, key], found);
  }
}

function member(doc: { [key: string]: JsonValue }, key: string): JsonValue | undefined {
  return Object.prototype.hasOwnProperty.call(doc, key) ? doc[key] : undefined;
}

function same(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return a === undefined || b === undefined ? a === b : deepEqual(a, b);
}
