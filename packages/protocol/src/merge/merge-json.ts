/**
 * Three-way merge of JSON documents (SPEC section 3.7, and the client's `update`, section 4).
 *
 * One recursive function decides every place in the document from the three values found there
 * (`undefined` meaning the value does not exist on that side):
 *
 * 1. yours equals theirs: nothing to decide, take theirs (this covers "no change" and "the same
 *    change on both sides");
 * 2. only one side differs from the base: take that side;
 * 3. both changed it, differently: when both are objects, merge member by member; when both are
 *    arrays the policy gives a merge key for, element by element; when both are strings the
 *    policy lists under `text`, line by line. Anything else is a conflict at this place.
 *
 * Rule 3 is what reports a change inside a subtree that the other side removed or replaced with a
 * value of another kind: the two sides first differ in kind at the root of that subtree, so that
 * is where the one conflict is reported, with each side's whole value there. When both sides hold
 * objects but the base holds something else (or nothing), the base counts as `{}`, so the members
 * each side added merge like any additions; the same goes for `[]` under a merge key and `''` for
 * text.
 */
import type { JsonObject, JsonValue } from '../json.js';
import { cloneJson, deepEqual, defineMember, hasMember, isJsonObject, ownMember } from '../json.js';
import { mergeKeyedArray } from './keyed-arrays.js';
import { mergeText } from './merge-text.js';
import type { CompiledMergePolicy, MergePolicy } from './policy.js';
import { toCompiledPolicy } from './policy.js';
import type { Site } from './site.js';
import { arrayKeyAt, childSite, isTextAt, rootSite, sitePointer } from './site.js';

/**
 * A place both sides changed in ways that cannot be merged. `base`, `yours` and `theirs` are the
 * values at `pointer` on each side; a missing member means the value does not exist on that side.
 *
 * Object members have the same pointer on every side, but an element of a keyed array may sit at
 * different positions, so `pointer` addresses theirs (the current document, which the server
 * sends as `current`) whenever `theirs` is present here, and yours otherwise: `getByPointer` on that
 * document finds the value given here.
 */
export interface MergeConflict {
  readonly pointer: string;
  readonly base?: JsonValue;
  readonly yours?: JsonValue;
  readonly theirs?: JsonValue;
}

/**
 * The result of {@link mergeJson}: the merged document, or every conflict together with the merge
 * in which each conflict was resolved to theirs (a starting point for a caller resolving them).
 */
export type MergeResult =
  | { readonly ok: true; readonly value: JsonValue }
  | {
      readonly ok: false;
      readonly conflicts: readonly MergeConflict[];
      /** The merge with every conflict resolved to theirs, for callers that want a starting point. */
      readonly value: JsonValue;
    };

/**
 * Merges two edits of the same JSON document: `yours` and `theirs` both started from `base`.
 *
 * The two edits are compared leaf by leaf (SPEC section 3.7): a change made on one side only is
 * taken, the same change made on both sides is taken once, and different changes to the same place
 * are conflicts. A change inside a subtree that the other side removed, or replaced with a value of
 * another kind, is one conflict at the root of that subtree. Objects merge member by member and
 * recursively. Arrays are atomic (a conflict at the array when both sides changed it differently)
 * and so are strings, unless `policy` names them ({@link MergePolicy}). Values compare with JSON
 * semantics ({@link deepEqual}: `1` equals `1.0`, member order does not matter).
 *
 * Under a merge key, elements are matched by the key's value (or by their whole value for `null`)
 * and merged three ways each: both sides' additions are kept, an element removed on one side and
 * edited on the other is a conflict at that element, and elements edited on both sides merge
 * member by member. The result keeps theirs' order and appends the elements only yours added, in
 * yours' order. An array in which some element lacks the key, or two elements share one, falls back
 * to atomic.
 *
 * Every conflict is reported, in document order: theirs' members and elements in theirs' order,
 * then those only yours has in yours' order, depth first. No input is changed, and the result and
 * the conflicts share no objects or arrays with the inputs. Members named `__proto__` are ordinary
 * members.
 *
 * @param policy - a {@link MergePolicy}, or one compiled ahead with {@link compileMergePolicy}.
 * @throws PointerSyntaxError or TypeError when a plain `policy` is malformed (see
 * {@link compileMergePolicy}).
 */
export function mergeJson(
  base: JsonValue,
  yours: JsonValue,
  theirs: JsonValue,
  policy?: MergePolicy | CompiledMergePolicy,
): MergeResult {
  const conflicts: MergeConflict[] = [];
  // Every rule resolves a conflict to theirs, and theirs exists at the root, so this is defined.
  const value = mergeAt(base, yours, theirs, rootSite(toCompiledPolicy(policy)), conflicts) ?? null;
  return conflicts.length === 0 ? { ok: true, value } : { ok: false, conflicts, value };
}

// Not mergeable by rule 3: the caller reports a conflict.
const UNMERGEABLE = Symbol('unmergeable');

function mergeAt(
  base: JsonValue | undefined,
  yours: JsonValue | undefined,
  theirs: JsonValue | undefined,
  site: Site,
  conflicts: MergeConflict[],
): JsonValue | undefined {
  if (same(yours, theirs) || same(base, yours)) return copy(theirs);
  if (same(base, theirs)) return copy(yours);
  if (yours !== undefined && theirs !== undefined) {
    const merged = mergeBothChanged(base, yours, theirs, site, conflicts);
    if (merged !== UNMERGEABLE) return merged;
  }
  conflicts.push(conflictAt(site, base, yours, theirs));
  return copy(theirs);
}

// Rule 3. Nothing is added to `conflicts` unless the values are merged here after all.
function mergeBothChanged(
  base: JsonValue | undefined,
  yours: JsonValue,
  theirs: JsonValue,
  site: Site,
  conflicts: MergeConflict[],
): JsonValue | typeof UNMERGEABLE {
  if (isJsonObject(yours) && isJsonObject(theirs)) {
    return mergeObjects(isJsonObject(base) ? base : {}, yours, theirs, site, conflicts);
  }
  if (Array.isArray(yours) && Array.isArray(theirs)) {
    const key = arrayKeyAt(site);
    if (key === undefined) return UNMERGEABLE;
    const merged = mergeKeyedArray(Array.isArray(base) ? base : [], yours, theirs, key, (b, y, t, ti, yi) => {
      // A side that lacks the element borrows the other side's position; sitePointer never uses
      // it, because a conflict is addressed in a side that has a value there.
      return mergeAt(b, y, t, childSite(site, String(ti ?? yi), String(yi ?? ti)), conflicts);
    });
    return merged ?? UNMERGEABLE;
  }
  if (typeof yours === 'string' && typeof theirs === 'string' && isTextAt(site)) {
    const merged = mergeText(typeof base === 'string' ? base : '', yours, theirs);
    return merged.ok ? merged.value : UNMERGEABLE;
  }
  return UNMERGEABLE;
}

function mergeObjects(
  base: JsonObject,
  yours: JsonObject,
  theirs: JsonObject,
  site: Site,
  conflicts: MergeConflict[],
): JsonObject {
  const out: JsonObject = {};
  const visit = (name: string): void => {
    const b = ownMember(base, name);
    const merged = mergeAt(
      b,
      ownMember(yours, name),
      ownMember(theirs, name),
      childSite(site, name),
      conflicts,
    );
    // defineMember, not out[name] = ..., so that a member named __proto__ stays a member.
    if (merged !== undefined) defineMember(out, name, merged);
  };
  // Members only the base has were removed on both sides: nothing to visit.
  for (const name of Object.keys(theirs)) visit(name);
  for (const name of Object.keys(yours)) if (!hasMember(theirs, name)) visit(name);
  return out;
}

function conflictAt(
  site: Site,
  base: JsonValue | undefined,
  yours: JsonValue | undefined,
  theirs: JsonValue | undefined,
): MergeConflict {
  const conflict: { pointer: string; base?: JsonValue; yours?: JsonValue; theirs?: JsonValue } = {
    pointer: sitePointer(site, theirs === undefined ? 'yours' : 'theirs'),
  };
  if (base !== undefined) conflict.base = cloneJson(base);
  if (yours !== undefined) conflict.yours = cloneJson(yours);
  if (theirs !== undefined) conflict.theirs = cloneJson(theirs);
  return conflict;
}

function same(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return a === undefined || b === undefined ? a === b : deepEqual(a, b);
}

function copy(value: JsonValue | undefined): JsonValue | undefined {
  return value === undefined ? undefined : cloneJson(value);
}
