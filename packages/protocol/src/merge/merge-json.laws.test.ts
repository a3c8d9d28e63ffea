/**
 * mergeJson's laws, on random documents and random edits of them: a base, and on each side a few
 * leaf edits, removals and additions at random places in it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonObject, JsonValue } from '../json.js';
import { cloneJson, deepEqual, defineMember, isJsonObject } from '../json.js';
import { formatPointer, getByPointer } from '../pointer.js';
import type { MergeConflict, MergeResult } from './merge-json.js';
import { mergeJson } from './merge-json.js';

// Few names and values, so that the two sides often touch the same places.
const name = fc.constantFrom('a', 'b', 'c', '__proto__', 'x/y');
const scalar = fc.oneof(
  fc.integer({ min: 0, max: 2 }),
  fc.constantFrom(null, true, 'p', 'q', 'p\nq', 'q\np\nr', 1.5),
);
const object = <T extends JsonValue>(member: fc.Arbitrary<T>): fc.Arbitrary<JsonObject> =>
  fc.uniqueArray(fc.tuple(name, member), { selector: ([key]) => key, maxLength: 4 }).map((members) => {
    const out: JsonObject = {};
    for (const [key, value] of members) defineMember(out, key, value);
    return out;
  });
const { value } = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, depthSize: 'small' },
    scalar,
    object(tie('value')),
    fc.array(tie('value'), { maxLength: 3 }),
  ),
}));
const doc = fc.oneof({ weight: 4, arbitrary: object(value) }, { weight: 1, arbitrary: value });

type Edit = { at: number; kind: 'set' | 'remove' | 'add'; key: string; value: JsonValue };
const edits = fc.array(
  fc.record({ at: fc.nat(), kind: fc.constantFrom('set', 'remove', 'add'), key: name, value }),
  {
    maxLength: 4,
  },
);

// Every place in a document: the root, each member and each element.
function places(node: JsonValue, at: string[] = [], out: string[][] = []): string[][] {
  out.push(at);
  if (Array.isArray(node)) node.forEach((item, i) => places(item, [...at, String(i)], out));
  else if (isJsonObject(node))
    for (const key of Object.keys(node)) places(node[key] as JsonValue, [...at, key], out);
  return out;
}

function applyEdits(base: JsonValue, list: readonly Edit[]): JsonValue {
  let root = cloneJson(base);
  for (const edit of list) {
    const all = places(root);
    const path = all[edit.at % all.length] as string[];
    const target = (getByPointer(root, path) as { value: JsonValue }).value;
    const added = cloneJson(edit.value);
    let next: JsonValue | undefined = edit.kind === 'remove' ? undefined : added;
    if (edit.kind === 'add' && isJsonObject(target)) {
      defineMember(target, edit.key, added);
      continue;
    }
    if (edit.kind === 'add' && Array.isArray(target)) {
      target.push(added);
      continue;
    }
    if (edit.kind === 'add') {
      const wrapper: JsonObject = {};
      defineMember(wrapper, edit.key, added);
      next = wrapper;
    }
    const parent =
      path.length === 0 ? undefined : (getByPointer(root, path.slice(0, -1)) as { value: JsonValue }).value;
    const last = path[path.length - 1] as string;
    if (parent === undefined) root = next ?? null;
    else if (Array.isArray(parent)) {
      if (next === undefined) parent.splice(Number(last), 1);
      else parent[Number(last)] = next;
    } else if (isJsonObject(parent)) {
      if (next === undefined) delete parent[last];
      else defineMember(parent, last, next);
    }
  }
  return root;
}

const edited = doc
  .chain((base) => fc.tuple(fc.constant(base), edits, edits))
  .map(([base, mine, other]) => ({
    base,
    yours: applyEdits(base, mine),
    theirs: applyEdits(base, other),
  }));

// Leaves by pointer, with arrays whole (they are atomic) and every object marked as such, so that
// "this is an object" is a leaf too: turning a string into an object changes /x, not only /x/...
function leaves(node: JsonValue, at: string[] = [], out = new Map<string, string>()): Map<string, string> {
  if (isJsonObject(node)) {
    out.set(formatPointer(at), '{}');
    for (const key of Object.keys(node)) leaves(node[key] as JsonValue, [...at, key], out);
  } else {
    out.set(formatPointer(at), canonical(node));
  }
  return out;
}
const canonical = (node: JsonValue): string =>
  JSON.stringify(node, (_key, v: unknown) =>
    isJsonObject(v)
      ? Object.keys(v)
          .sort()
          .map((k) => [k, v[k]])
      : (v as JsonValue),
  );

const within = (pointer: string, conflict: MergeConflict): boolean =>
  pointer === conflict.pointer || pointer.startsWith(`${conflict.pointer}/`);

function expectClean(result: MergeResult, expected: JsonValue): void {
  expect(result.ok).toBe(true);
  expect(deepEqual(result.value, expected)).toBe(true);
}

describe('mergeJson laws', () => {
  it('merge(b, b, x) = x, merge(b, x, x) = x and merge(b, x, b) = x', () => {
    fc.assert(
      fc.property(edited, doc, ({ base, yours }, unrelated) => {
        for (const x of [yours, unrelated]) {
          expectClean(mergeJson(base, base, x), x);
          expectClean(mergeJson(base, x, x), x);
          expectClean(mergeJson(base, x, base), x);
          expectClean(mergeJson(base, x, cloneJson(x), { text: ['/a', '/b'] }), x);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same result with the sides swapped, and the same conflicts with yours and theirs swapped', () => {
    const key = (c: MergeConflict): string => JSON.stringify([c.pointer, c.base, c.yours, c.theirs]);
    fc.assert(
      fc.property(edited, fc.boolean(), ({ base, yours, theirs }, text) => {
        const policy = text ? { text: ['/a', '/*/b', ''] } : {};
        const forward = mergeJson(base, yours, theirs, policy);
        const backward = mergeJson(base, theirs, yours, policy);
        expect(backward.ok).toBe(forward.ok);
        if (forward.ok) expect(deepEqual(forward.value, backward.value)).toBe(true);
        const swapped = (r: MergeResult) =>
          r.ok
            ? []
            : r.conflicts.map((c) => key({ ...c, yours: c.theirs, theirs: c.yours } as MergeConflict));
        const plain = (r: MergeResult) => (r.ok ? [] : r.conflicts.map(key));
        expect(swapped(backward).sort()).toEqual(plain(forward).sort());
      }),
      { numRuns: 1000 },
    );
  });

  it('merges edits of different members cleanly, in either order', () => {
    const sides = fc
      .record({ a: value, b: value, c: value })
      .chain((base) => fc.tuple(fc.constant(base as JsonValue), edits, edits));
    fc.assert(
      fc.property(sides, ([base, mine, other]) => {
        const member = (d: JsonValue, key: string): JsonValue => (d as JsonObject)[key] as JsonValue;
        const yours = { ...(base as JsonObject), a: applyEdits(member(base, 'a'), mine) };
        const theirs = { ...(base as JsonObject), b: applyEdits(member(base, 'b'), other) };
        const expected = { ...(base as JsonObject), a: yours.a, b: theirs.b };
        expectClean(mergeJson(base, yours, theirs), expected);
        expectClean(mergeJson(base, theirs, yours), expected);
      }),
    );
  });

  it('reports every leaf changed differently on both sides, at the leaf or above it', () => {
    fc.assert(
      fc.property(edited, ({ base, yours, theirs }) => {
        const [b, y, t] = [leaves(base), leaves(yours), leaves(theirs)];
        const result = mergeJson(base, yours, theirs);
        const conflicts = result.ok ? [] : result.conflicts;
        for (const pointer of new Set([...b.keys(), ...y.keys(), ...t.keys()])) {
          const [was, mine, other] = [b.get(pointer), y.get(pointer), t.get(pointer)];
          if (mine !== was && other !== was && mine !== other) {
            expect(conflicts.some((c) => within(pointer, c))).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('when clean, has every change of either side and nothing else', () => {
    fc.assert(
      fc.property(edited, ({ base, yours, theirs }) => {
        const result = mergeJson(base, yours, theirs);
        fc.pre(result.ok);
        const [b, y, t, merged] = [leaves(base), leaves(yours), leaves(theirs), leaves(result.value)];
        const expected = new Map<string, string>();
        for (const pointer of new Set([...b.keys(), ...y.keys(), ...t.keys()])) {
          const leaf = y.get(pointer) !== b.get(pointer) ? y.get(pointer) : t.get(pointer);
          if (leaf !== undefined) expected.set(pointer, leaf);
        }
        expect(new Map([...merged].sort())).toEqual(new Map([...expected].sort()));
      }),
      { numRuns: 1000 },
    );
  });

  it('gives each conflict the values found at its pointer, and resolves it to theirs', () => {
    fc.assert(
      fc.property(edited, ({ base, yours, theirs }) => {
        const result = mergeJson(base, yours, theirs);
        if (result.ok) return;
        const found = (d: JsonValue, pointer: string) => {
          const hit = getByPointer(d, pointer);
          return hit.found ? hit.value : undefined;
        };
        for (const c of result.conflicts) {
          expect(found(base, c.pointer)).toEqual(c.base);
          expect(found(yours, c.pointer)).toEqual(c.yours);
          expect(found(theirs, c.pointer)).toEqual(c.theirs);
          expect(found(result.value, c.pointer)).toEqual(c.theirs);
          expect(
            deepEqual(c.yours ?? null, c.theirs ?? null) &&
              (c.yours === undefined) === (c.theirs === undefined),
          ).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });
});
