import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { diffJson } from './diff.js';
import type { JsonValue } from './json.js';
import { cloneJson, deepEqual, forbiddenMemberIn } from './json.js';
import { applyJsonPatch, validateJsonPatch } from './json-patch.js';
import { applyMergePatch } from './merge-patch.js';

// Documents as Truce can hold them: JSON Patch refuses to create `__proto__` (and
// `constructor/prototype`), so a diff towards a value holding one could never be applied.
const json = (fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<JsonValue>).filter(
  (value) => forbiddenMemberIn(value, undefined) === undefined,
);
// Unrelated pairs mostly differ at the root; merging a patch into `a` gives a `b` that shares most
// of `a`'s structure, which exercises the recursive cases.
const pair = fc.oneof(
  fc.tuple(json, json),
  fc.tuple(json, json).map(([a, patch]): [JsonValue, JsonValue] => [a, applyMergePatch(a, patch)]),
);

describe('diffJson', () => {
  it('gives [] for equal values', () => {
    expect(diffJson({ a: [1, { b: 2 }] }, { a: [1, { b: 2.0 }] })).toEqual([]);
    expect(diffJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toEqual([]);
  });

  it('recurses into objects', () => {
    expect(diffJson({ a: 1, b: { c: 1, d: 2 }, x: 0 }, { a: 1, b: { c: 2, d: 2 }, y: 0 })).toEqual([
      { op: 'remove', path: '/x' },
      { op: 'replace', path: '/b/c', value: 2 },
      { op: 'add', path: '/y', value: 0 },
    ]);
  });

  it('compares arrays index by index and then handles the tail', () => {
    expect(diffJson([1, 2, 3, 4], [1, 9])).toEqual([
      { op: 'replace', path: '/1', value: 9 },
      { op: 'remove', path: '/3' },
      { op: 'remove', path: '/2' },
    ]);
    expect(diffJson([1], [1, 2, 3])).toEqual([
      { op: 'add', path: '/1', value: 2 },
      { op: 'add', path: '/2', value: 3 },
    ]);
  });

  it('replaces values of different kinds, including the root', () => {
    expect(diffJson({ a: [1] }, { a: { 0: 1 } })).toEqual([{ op: 'replace', path: '/a', value: { 0: 1 } }]);
    expect(diffJson([1], 'x')).toEqual([{ op: 'replace', path: '', value: 'x' }]);
  });

  it('escapes member names in paths', () => {
    expect(diffJson({}, { 'a/b': 1, '~': 2 })).toEqual([
      { op: 'add', path: '/a~1b', value: 1 },
      { op: 'add', path: '/~0', value: 2 },
    ]);
  });

  it('copies values instead of sharing them with `to`', () => {
    const to = { a: { b: [1] } };
    const [op] = diffJson({}, to);
    expect(op).toEqual({ op: 'add', path: '/a', value: { b: [1] } });
    expect(op && 'value' in op && op.value).not.toBe(to.a);
  });

  it('round-trips: applying diffJson(a, b) to a gives b', () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const [aBefore, bBefore] = [cloneJson(a), cloneJson(b)];
        const ops = diffJson(a, b);
        // The diff is a valid patch document, as a client would send it.
        expect(validateJsonPatch(JSON.parse(JSON.stringify(ops))).ok).toBe(true);
        const result = applyJsonPatch(a, ops);
        expect(result.ok).toBe(true);
        expect(result.ok && deepEqual(result.value, b)).toBe(true);
        expect(a).toEqual(aBefore);
        expect(b).toEqual(bBefore);
      }),
      { numRuns: 500 },
    );
  });

  it('gives [] when diffing a value with itself', () => {
    fc.assert(
      fc.property(json, (a) => {
        expect(diffJson(a, a)).toEqual([]);
        expect(diffJson(a, cloneJson(a))).toEqual([]);
      }),
    );
  });
});
