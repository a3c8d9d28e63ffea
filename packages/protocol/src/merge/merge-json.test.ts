import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../json.js';
import { cloneJson } from '../json.js';
import { getByPointer } from '../pointer.js';
import { mergeJson } from './merge-json.js';

describe('mergeJson on objects', () => {
  it('takes changes made on one side only, from either side', () => {
    const base = { title: 'Draft', author: { name: 'Ann', mail: 'ann@x' }, tags: ['a'], old: 1 };
    const yours = { title: 'Final', author: { name: 'Ann', mail: 'ann@y' }, tags: ['a'], old: 1 };
    const theirs = {
      title: 'Draft',
      author: { name: 'Ann B.', mail: 'ann@x' },
      tags: ['a', 'b'],
      added: true,
    };
    expect(mergeJson(base, yours, theirs)).toEqual({
      ok: true,
      value: { title: 'Final', author: { name: 'Ann B.', mail: 'ann@y' }, tags: ['a', 'b'], added: true },
    });
  });

  it('takes identical changes once, comparing numbers by value', () => {
    const parse = (text: string) => JSON.parse(text) as JsonValue;
    expect(mergeJson({ n: 1, a: 1 }, parse('{"n": 2.0, "a": 1}'), parse('{"n": 2, "a": 1, "b": 3}'))).toEqual(
      {
        ok: true,
        value: { n: 2, a: 1, b: 3 },
      },
    );
    expect(mergeJson({ a: 1 }, {}, {})).toEqual({ ok: true, value: {} });
    expect(mergeJson({ a: 1 }, { a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toMatchObject({
      ok: true,
    });
  });

  it('reports different changes to the same leaf, with all three values', () => {
    expect(mergeJson({ a: 1, b: 1 }, { a: 2, b: 1 }, { a: 3, b: 2 })).toEqual({
      ok: false,
      conflicts: [{ pointer: '/a', base: 1, yours: 2, theirs: 3 }],
      value: { a: 3, b: 2 },
    });
  });

  it('reports every conflicting pointer, in document order', () => {
    const base = { a: 0, m: { x: 0, y: 0 }, z: 0 };
    const result = mergeJson(base, { a: 1, m: { x: 1, y: 1 }, z: 1 }, { z: 2, a: 2, m: { y: 2, x: 2 } });
    expect(!result.ok && result.conflicts.map((c) => c.pointer)).toEqual(['/z', '/a', '/m/y', '/m/x']);
  });

  it('reports a member added on both sides with different values, without a base', () => {
    expect(mergeJson({}, { a: 1 }, { a: 2 })).toEqual({
      ok: false,
      conflicts: [{ pointer: '/a', yours: 1, theirs: 2 }],
      value: { a: 2 },
    });
  });

  it('merges objects both sides created at the same place, member by member', () => {
    expect(mergeJson({}, { meta: { a: 1 } }, { meta: { b: 2 } })).toEqual({
      ok: true,
      value: { meta: { a: 1, b: 2 } },
    });
    // Replacing a value of another kind with an object on both sides is the same.
    expect(mergeJson({ meta: 'none' }, { meta: { a: 1 } }, { meta: { a: 1, b: 2 } })).toEqual({
      ok: true,
      value: { meta: { a: 1, b: 2 } },
    });
    expect(mergeJson({}, { meta: { a: 1 } }, { meta: { a: 2 } })).toMatchObject({
      ok: false,
      conflicts: [{ pointer: '/meta/a', yours: 1, theirs: 2 }],
    });
  });
});

describe('mergeJson on removals and changes of kind', () => {
  it('removes a member removed on one side and unchanged on the other', () => {
    expect(mergeJson({ a: { b: 1 }, c: 1 }, { c: 1 }, { a: { b: 1 }, c: 2 })).toEqual({
      ok: true,
      value: { c: 2 },
    });
  });

  it('reports an edit inside a subtree the other side removed, at the subtree', () => {
    const base = { a: { b: 1, c: 1 } };
    expect(mergeJson(base, { a: { b: 2, c: 1 } }, {})).toEqual({
      ok: false,
      conflicts: [{ pointer: '/a', base: { b: 1, c: 1 }, yours: { b: 2, c: 1 } }],
      value: {},
    });
    // The other way round the conflict is addressed in yours, where the value still is.
    expect(mergeJson(base, {}, { a: { b: 1, c: 1, d: 1 } })).toEqual({
      ok: false,
      conflicts: [{ pointer: '/a', base: { b: 1, c: 1 }, theirs: { b: 1, c: 1, d: 1 } }],
      value: { a: { b: 1, c: 1, d: 1 } },
    });
  });

  it('reports an edit deep inside a subtree replaced with another kind, once, at the highest pointer', () => {
    const base = { a: { b: { c: 1 } } };
    expect(mergeJson(base, { a: { b: { c: 2 } } }, { a: 'gone' })).toEqual({
      ok: false,
      conflicts: [{ pointer: '/a', base: { b: { c: 1 } }, yours: { b: { c: 2 } }, theirs: 'gone' }],
      value: { a: 'gone' },
    });
    expect(mergeJson(base, { a: { b: [1] } }, { a: { b: { c: 1, d: 1 } } })).toMatchObject({
      ok: false,
      conflicts: [{ pointer: '/a/b', yours: [1], theirs: { c: 1, d: 1 } }],
    });
  });

  it('merges a removal with an identical removal and with a change elsewhere', () => {
    expect(mergeJson({ a: { b: 1 }, c: 1 }, { c: 1 }, { c: 2 })).toEqual({ ok: true, value: { c: 2 } });
  });

  it('takes a change of kind made on one side only', () => {
    expect(mergeJson({ a: { b: 1 }, c: 1 }, { a: [1], c: 1 }, { a: { b: 1 }, c: 2 })).toEqual({
      ok: true,
      value: { a: [1], c: 2 },
    });
  });
});

describe('mergeJson on arrays and strings without a policy', () => {
  it('replaces arrays whole and reports differently changed arrays at the array', () => {
    expect(mergeJson({ t: [1, 2] }, { t: [1, 2, 3] }, { t: [1, 2] })).toEqual({
      ok: true,
      value: { t: [1, 2, 3] },
    });
    expect(mergeJson({ t: [{ a: 1 }] }, { t: [{ a: 2 }] }, { t: [{ a: 1 }, 2] })).toEqual({
      ok: false,
      conflicts: [{ pointer: '/t', base: [{ a: 1 }], yours: [{ a: 2 }], theirs: [{ a: 1 }, 2] }],
      value: { t: [{ a: 1 }, 2] },
    });
  });

  it('treats strings as atomic', () => {
    expect(mergeJson({ s: 'a\nb' }, { s: 'A\nb' }, { s: 'a\nB' })).toMatchObject({
      ok: false,
      conflicts: [{ pointer: '/s' }],
    });
  });
});

describe('mergeJson on text', () => {
  const policy = { text: ['/body', '/notes/*'] };

  it('merges listed strings line by line', () => {
    const base = { body: 'one\ntwo\nthree', notes: { a: 'x\ny\nz' } };
    const yours = { body: 'ONE\ntwo\nthree', notes: { a: 'X\ny\nz' } };
    const theirs = { body: 'one\ntwo\nTHREE', notes: { a: 'x\ny\nZ' } };
    expect(mergeJson(base, yours, theirs, policy)).toEqual({
      ok: true,
      value: { body: 'ONE\ntwo\nTHREE', notes: { a: 'X\ny\nZ' } },
    });
  });

  it('reports overlapping line changes as one conflict with the whole strings', () => {
    expect(mergeJson({ body: 'a\nb' }, { body: 'a\nX' }, { body: 'a\nY' }, policy)).toEqual({
      ok: false,
      conflicts: [{ pointer: '/body', base: 'a\nb', yours: 'a\nX', theirs: 'a\nY' }],
      value: { body: 'a\nY' },
    });
    expect(mergeJson({ body: 'a' }, { body: 'a\nb' }, { body: 'a\nc' }, policy)).toMatchObject({
      ok: false,
      conflicts: [{ pointer: '/body' }],
    });
  });

  it('merges text both sides added against an empty base', () => {
    expect(mergeJson({}, { body: 'a' }, { body: 'a' }, policy)).toEqual({ ok: true, value: { body: 'a' } });
    expect(mergeJson({}, { body: 'a' }, { body: 'b' }, policy)).toEqual({
      ok: false,
      conflicts: [{ pointer: '/body', yours: 'a', theirs: 'b' }],
      value: { body: 'b' },
    });
  });

  it('does not merge a string with a value of another kind', () => {
    expect(mergeJson({ body: 'a\nb' }, { body: 'a\nc' }, { body: 1 }, policy)).toMatchObject({
      ok: false,
      conflicts: [{ pointer: '/body', theirs: 1 }],
    });
  });
});

describe('mergeJson at the root', () => {
  it('merges and reports root values that are not objects', () => {
    expect(mergeJson(1, 1, 2)).toEqual({ ok: true, value: 2 });
    expect(mergeJson('a', 'b', 'a')).toEqual({ ok: true, value: 'b' });
    expect(mergeJson(null, [1], [1])).toEqual({ ok: true, value: [1] });
    expect(mergeJson(1, 2, 3)).toEqual({
      ok: false,
      conflicts: [{ pointer: '', base: 1, yours: 2, theirs: 3 }],
      value: 3,
    });
    expect(mergeJson({ a: 1 }, { a: 2 }, [1])).toEqual({
      ok: false,
      conflicts: [{ pointer: '', base: { a: 1 }, yours: { a: 2 }, theirs: [1] }],
      value: [1],
    });
    expect(mergeJson('x\ny', 'X\ny', 'x\nY', { text: [''] })).toEqual({ ok: true, value: 'X\nY' });
  });
});

describe('mergeJson safety', () => {
  it('merges members named __proto__ as ordinary members and never touches a prototype', () => {
    const parse = (text: string) => JSON.parse(text) as JsonValue;
    const base = parse('{"__proto__": {"a": 1, "b": 1}, "constructor": 1}');
    const yours = parse('{"__proto__": {"a": 2, "b": 1, "polluted": true}, "constructor": 1}');
    const theirs = parse('{"__proto__": {"a": 1, "b": 2}, "constructor": 2}');
    const result = mergeJson(base, yours, theirs);
    expect(result.ok).toBe(true);
    const value = result.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor']);
    expect(getByPointer(result.value, '/__proto__')).toEqual({
      found: true,
      value: { a: 2, b: 2, polluted: true },
    });
    expect(value['constructor']).toBe(2);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();

    // Added on one side only, and in conflict.
    const added = mergeJson({}, parse('{"__proto__": {"x": 1}}'), {});
    expect(Object.getPrototypeOf(added.value)).toBe(Object.prototype);
    expect(Object.keys(added.value as object)).toEqual(['__proto__']);
    const clash = mergeJson({}, parse('{"__proto__": 1}'), parse('{"__proto__": 2}'));
    expect(clash).toMatchObject({ ok: false, conflicts: [{ pointer: '/__proto__', yours: 1, theirs: 2 }] });
    expect(Object.keys(clash.value as object)).toEqual(['__proto__']);
  });

  it('changes no input and shares nothing with them', () => {
    const base = { a: { x: [1] }, b: { y: 1 } };
    const yours = { a: { x: [1] }, b: { y: 2 }, c: { z: [1] } };
    const theirs = { a: { x: [2] }, b: { y: 3 } };
    const before = cloneJson([base, yours, theirs]);
    const result = mergeJson(base, yours, theirs);
    expect([base, yours, theirs]).toEqual(before);
    const value = result.value as typeof yours;
    expect(value.a.x).not.toBe(theirs.a.x);
    expect(value.c).not.toBe(yours.c);
    expect(value.c).toEqual(yours.c);
  });
});
