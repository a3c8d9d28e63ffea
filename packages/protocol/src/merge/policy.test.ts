import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../json.js';
import { isPointerSyntaxError } from '../pointer.js';
import { mergeJson } from './merge-json.js';
import type { MergePolicy } from './policy.js';
import { compileMergePolicy } from './policy.js';
import { arrayKeyAt, childSite, isTextAt, rootSite, sitePointer } from './site.js';

const at = (policy: MergePolicy, ...tokens: string[]) =>
  tokens.reduce((site, token) => childSite(site, token), rootSite(compileMergePolicy(policy)));

describe('compileMergePolicy', () => {
  it('parses pointers and keeps keys', () => {
    const compiled = compileMergePolicy({ arrays: { '/tags': null, '/a~1b': 'id' }, text: ['/body'] });
    expect(compiled.kind).toBe('truce.compiled-merge-policy');
    expect(compiled.arrays).toEqual(
      expect.arrayContaining([
        { tokens: ['tags'], key: null },
        { tokens: ['a/b'], key: 'id' },
      ]),
    );
    expect(compiled.text).toEqual([{ tokens: ['body'] }]);
    expect(Object.isFrozen(compiled)).toBe(true);
  });

  it('rejects malformed pointers and keys', () => {
    const error = (policy: unknown): unknown => {
      try {
        compileMergePolicy(policy as MergePolicy);
      } catch (caught) {
        return caught;
      }
      return undefined;
    };
    expect(isPointerSyntaxError(error({ arrays: { tags: null } }))).toBe(true);
    expect(isPointerSyntaxError(error({ text: ['/a~2'] }))).toBe(true);
    expect(error({ arrays: { '/tags': 1 } })).toBeInstanceOf(TypeError);
    expect(error({ text: '/body' })).toBeInstanceOf(TypeError);
    expect(() => mergeJson({}, { a: 1 }, { b: 1 }, { text: ['body'] })).toThrow(/JSON Pointer/);
  });

  it('matches `*` against any member name or index', () => {
    const policy = { arrays: { '/sections/*/items': 'sku' }, text: ['/notes/*'] };
    expect(arrayKeyAt(at(policy, 'sections', '0', 'items'))).toBe('sku');
    expect(arrayKeyAt(at(policy, 'sections', 'intro', 'items'))).toBe('sku');
    expect(arrayKeyAt(at(policy, 'sections', '0'))).toBeUndefined();
    expect(arrayKeyAt(at(policy, 'sections', '0', 'items', '0'))).toBeUndefined();
    expect(arrayKeyAt(at(policy, 'other', '0', 'items'))).toBeUndefined();
    expect(isTextAt(at(policy, 'notes', 'x'))).toBe(true);
    expect(isTextAt(at(policy, 'notes'))).toBe(false);
  });

  it('applies the most specific pointer where several match', () => {
    const policy = { arrays: { '/*/*': 'any', '/a/*': 'a-any', '/*/b': 'any-b', '/a/b': 'exact' } };
    expect(arrayKeyAt(at(policy, 'a', 'b'))).toBe('exact');
    expect(arrayKeyAt(at(policy, 'a', 'c'))).toBe('a-any');
    expect(arrayKeyAt(at(policy, 'c', 'b'))).toBe('any-b');
    expect(arrayKeyAt(at(policy, 'c', 'c'))).toBe('any');
  });

  it('applies to the root with the empty pointer', () => {
    expect(arrayKeyAt(at({ arrays: { '': null } }))).toBeNull();
    expect(mergeJson([1, 2], [1, 2, 3], [0, 1, 2], { arrays: { '': null } })).toEqual({
      ok: true,
      value: [0, 1, 2, 3],
    });
  });

  it('gives the same merge compiled or plain', () => {
    const policy = { arrays: { '/items': 'id' }, text: ['/body'] };
    const args: [JsonValue, JsonValue, JsonValue] = [
      { items: [{ id: 1, n: 1 }], body: 'a\nb' },
      { items: [{ id: 1, n: 2 }], body: 'A\nb' },
      { items: [{ id: 1, n: 1 }, { id: 2 }], body: 'a\nB' },
    ];
    const plain = mergeJson(...args, policy);
    expect(plain).toEqual({ ok: true, value: { items: [{ id: 1, n: 2 }, { id: 2 }], body: 'A\nB' } });
    expect(mergeJson(...args, compileMergePolicy(policy))).toEqual(plain);
  });
});

describe('sitePointer', () => {
  it('formats either side and escapes tokens', () => {
    const root = rootSite(compileMergePolicy({}));
    const site = childSite(childSite(root, 'a/b'), '3', '5');
    expect(sitePointer(site, 'theirs')).toBe('/a~1b/3');
    expect(sitePointer(site, 'yours')).toBe('/a~1b/5');
    expect(sitePointer(root, 'theirs')).toBe('');
  });
});
