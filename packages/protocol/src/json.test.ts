import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonValue } from './json.js';
import { cloneJson, deepEqual, isJsonObject, isJsonValue } from './json.js';

describe('isJsonObject', () => {
  it('accepts plain objects, including null-prototype ones', () => {
    expect(isJsonObject({})).toBe(true);
    expect(isJsonObject({ a: 1 })).toBe(true);
    expect(isJsonObject(Object.create(null))).toBe(true);
    expect(isJsonObject(JSON.parse('{"__proto__": 1}'))).toBe(true);
  });

  it('rejects arrays, null, scalars and class instances', () => {
    for (const value of [[], null, undefined, 1, 'x', true, new Date(), new Map(), /x/]) {
      expect(isJsonObject(value)).toBe(false);
    }
  });
});

describe('deepEqual', () => {
  it('ignores object key order', () => {
    expect(deepEqual({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 })).toBe(true);
  });

  it('compares numbers by value', () => {
    expect(deepEqual(1, 1.0)).toBe(true);
    expect(deepEqual(0, -0)).toBe(true);
    expect(deepEqual(JSON.parse('1.0') as JsonValue, JSON.parse('1') as JsonValue)).toBe(true);
  });

  it('distinguishes kinds, lengths and members', () => {
    expect(deepEqual(1, '1')).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
    expect(deepEqual([], {})).toBe(false);
    expect(deepEqual({}, [])).toBe(false);
    expect(deepEqual([1, 2], [2, 1])).toBe(false);
    expect(deepEqual([1], [1, 1])).toBe(false);
    expect(deepEqual({ a: 1 }, { a: 1, b: 1 })).toBe(false);
    expect(deepEqual({ a: 1, b: 1 }, { a: 1 })).toBe(false);
    expect(deepEqual({ a: null }, { b: null })).toBe(false);
  });

  it('does not mistake inherited members for own ones', () => {
    expect(deepEqual({ constructor: 1 }, { toString: 1 })).toBe(false);
    expect(deepEqual(JSON.parse('{"__proto__": {}}') as JsonValue, { x: {} })).toBe(false);
  });

  it('agrees with comparing canonical JSON text', () => {
    const canonical = (v: unknown): string =>
      JSON.stringify(v, (_k, x: unknown) =>
        isJsonObject(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
      );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
        const x = a as JsonValue;
        const y = b as JsonValue;
        expect(deepEqual(x, y)).toBe(canonical(x) === canonical(y));
        expect(deepEqual(x, cloneJson(x))).toBe(true);
      }),
    );
  });
});

describe('cloneJson', () => {
  it('copies deeply and shares nothing', () => {
    const original = { a: [1, { b: 2 }], c: { d: null } };
    const copy = cloneJson(original);
    expect(copy).toEqual(original);
    expect(copy.a).not.toBe(original.a);
    expect(copy.a[1]).not.toBe(original.a[1]);
    expect(copy.c).not.toBe(original.c);
  });

  it('copies a __proto__ member as an own member without changing the prototype', () => {
    const copy = cloneJson(JSON.parse('{"__proto__": {"polluted": true}}') as JsonValue);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('isJsonValue', () => {
  it('accepts JSON and rejects what JSON cannot carry', () => {
    expect(isJsonValue({ a: [1, 'x', null, true, { b: -0 }] })).toBe(true);
    for (const value of [
      undefined,
      NaN,
      Infinity,
      () => 1,
      Symbol('x'),
      1n,
      new Date(),
      [undefined],
      { a: NaN },
    ]) {
      expect(isJsonValue(value)).toBe(false);
    }
  });
});
