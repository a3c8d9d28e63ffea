/**
 * Computing a JSON Patch between two JSON values.
 */
import type { JsonValue } from './json.js';
import { cloneJson, deepEqual, hasMember, isJsonObject } from './json.js';
import type { JsonPatchOperation } from './json-patch.js';
import { formatPointer } from './pointer.js';

/**
 * A JSON Patch that turns `from` into `to`: applying it with `applyJsonPatch(from, ...)` yields a
 * value equal to `to`, and equal values give `[]`.
 *
 * Objects are compared member by member and recursively. Arrays are compared index by index over
 * their common length, then the tail is appended or removed; an element inserted at the front
 * therefore shows up as a change to every element, which is correct if not minimal. The values in
 * the operations are copies, never shared with `to`.
 */
export function diffJson(from: JsonValue, to: JsonValue): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  diffInto(ops, [], from, to);
  return ops;
}

function diffInto(
  ops: JsonPatchOperation[],
  tokens: (string | number)[],
  from: JsonValue,
  to: JsonValue,
): void {
  if (deepEqual(from, to)) return;
  const at = (token: string | number): (string | number)[] => [...tokens, token];
  if (isJsonObject(from) && isJsonObject(to)) {
    for (const key of Object.keys(from)) {
      if (!hasMember(to, key)) ops.push({ op: 'remove', path: formatPointer(at(key)) });
    }
    for (const key of Object.keys(to)) {
      const next = to[key] as JsonValue;
      if (hasMember(from, key)) diffInto(ops, at(key), from[key] as JsonValue, next);
      else ops.push({ op: 'add', path: formatPointer(at(key)), value: cloneJson(next) });
    }
    return;
  }
  if (Array.isArray(from) && Array.isArray(to)) {
    const common = Math.min(from.length, to.length);
    for (let i = 0; i < common; i++) diffInto(ops, at(i), from[i] as JsonValue, to[i] as JsonValue);
    // Remove from the end backwards so each index still names the element it did in `from`.
    for (let i = from.length - 1; i >= common; i--) ops.push({ op: 'remove', path: formatPointer(at(i)) });
    for (let i = common; i < to.length; i++) {
      ops.push({ op: 'add', path: formatPointer(at(i)), value: cloneJson(to[i] as JsonValue) });
    }
    return;
  }
  // Different kinds (or different scalars): replace the value where it stands.
  ops.push({ op: 'replace', path: formatPointer(tokens), value: cloneJson(to) });
}
