import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonValue } from './json.js';
import { cloneJson } from './json.js';
import { applyMergePatch } from './merge-patch.js';

describe('applyMergePatch with the RFC 7396 examples', () => {
  it('section 3', () => {
    const target = {
      title: 'Goodbye!',
      author: { givenName: 'John', familyName: 'Doe' },
      tags: ['example', 'sample'],
      content: 'This will be unchanged',
    };
    const patch = {
      title: 'Hello!',
      phoneNumber: '+01-123-456-7890',
      author: { familyName: null },
      tags: ['example'],
    };
    expect(applyMergePatch(target, patch)).toEqual({
      title: 'Hello!',
      author: { givenName: 'John' },
      tags: ['example'],
      content: 'This will be unchanged',
      phoneNumber: '+01-123-456-7890',
    });
  });

  // Appendix A, row by row: original, patch, result.
  it.each<[JsonValue, JsonValue, JsonValue]>([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('Appendix A: %j + %j', (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });
});

describe('applyMergePatch', () => {
  it('never changes its inputs and shares nothing with them', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
        const target = a as JsonValue;
        const patch = b as JsonValue;
        const [targetCopy, patchCopy] = [cloneJson(target), cloneJson(patch)];
        const result = applyMergePatch(target, patch);
        expect(target).toEqual(targetCopy);
        expect(patch).toEqual(patchCopy);
        if (typeof result === 'object' && result !== null) {
          expect(result).not.toBe(target);
          expect(result).not.toBe(patch);
        }
      }),
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
        const once = applyMergePatch(a as JsonValue, b as JsonValue);
        expect(applyMergePatch(once, b as JsonValue)).toEqual(once);
      }),
    );
  });

  it('does not pollute Object.prototype through __proto__ keys', () => {
    const patch = JSON.parse(
      '{"__proto__": {"polluted": true}, "a": {"__proto__": {"polluted": true}}}',
    ) as JsonValue;
    const result = applyMergePatch({ a: {} }, patch) as Record<string, unknown>;
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(result['a'])).toBe(Object.prototype);
    expect(Object.keys(result)).toEqual(['a', '__proto__']);
    expect(Object.getOwnPropertyDescriptor(result, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('does not treat constructor or prototype members specially', () => {
    const patch = JSON.parse('{"constructor": {"prototype": {"polluted": true}}}') as JsonValue;
    expect(applyMergePatch({}, patch)).toEqual(patch);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('removes an own __proto__ member with null', () => {
    const target = JSON.parse('{"__proto__": 1, "b": 2}') as JsonValue;
    expect(
      Object.keys(applyMergePatch(target, JSON.parse('{"__proto__": null}') as JsonValue) as object),
    ).toEqual(['b']);
  });
});
