import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../json.js';
import { getByPointer } from '../pointer.js';
import { mergeJson } from './merge-json.js';

const policy = { arrays: { '/items': 'sku', '/tags': null, '/sections': 'id', '/sections/*/items': 'id' } };
const merge = (base: JsonValue, yours: JsonValue, theirs: JsonValue) =>
  mergeJson(base, yours, theirs, policy);

describe('keyed arrays', () => {
  const pen = { sku: 'pen', qty: 1, price: 2 };
  const ink = { sku: 'ink', qty: 1, price: 5 };

  it('keeps additions from both sides: theirs in their order, then yours', () => {
    const base = { items: [pen] };
    const yours = { items: [{ sku: 'cap', qty: 1 }, pen, { sku: 'nib', qty: 1 }] };
    const theirs = { items: [pen, ink] };
    expect(merge(base, yours, theirs)).toEqual({
      ok: true,
      value: { items: [pen, ink, { sku: 'cap', qty: 1 }, { sku: 'nib', qty: 1 }] },
    });
  });

  it('takes the same element added on both sides once, and merges two additions of one key', () => {
    expect(merge({ items: [] }, { items: [ink] }, { items: [ink] })).toEqual({
      ok: true,
      value: { items: [ink] },
    });
    expect(
      merge({ items: [] }, { items: [{ sku: 'ink', qty: 1 }] }, { items: [{ sku: 'ink', price: 5 }] }),
    ).toEqual({
      ok: true,
      value: { items: [ink] },
    });
  });

  it('merges edits to disjoint fields of the same element', () => {
    const base = { items: [pen, ink] };
    const yours = { items: [{ ...pen, qty: 3 }, ink] };
    const theirs = { items: [ink, { ...pen, price: 4 }] };
    expect(merge(base, yours, theirs)).toEqual({
      ok: true,
      value: { items: [ink, { sku: 'pen', qty: 3, price: 4 }] },
    });
  });

  it('reports the same field edited differently at the element in theirs', () => {
    const base = { items: [pen, ink] };
    const yours = { items: [pen, { ...ink, qty: 2 }] };
    const theirs = { items: [{ sku: 'cap' }, { ...ink, qty: 9 }, pen] };
    const result = merge(base, yours, theirs);
    expect(result).toEqual({
      ok: false,
      conflicts: [{ pointer: '/items/1/qty', base: 1, yours: 2, theirs: 9 }],
      value: { items: [{ sku: 'cap' }, { ...ink, qty: 9 }, pen] },
    });
    expect(getByPointer(theirs, '/items/1/qty')).toEqual({ found: true, value: 9 });
  });

  it('reports an element removed on one side and edited on the other', () => {
    const base = { items: [pen, ink] };
    // Theirs removed ink, yours edited it: addressed in yours, since theirs no longer has it.
    const edited = { ...ink, qty: 2 };
    expect(merge(base, { items: [pen, edited] }, { items: [pen] })).toEqual({
      ok: false,
      conflicts: [{ pointer: '/items/1', base: ink, yours: edited }],
      value: { items: [pen] },
    });
    // Yours removed pen, theirs edited it (and moved it): addressed in theirs.
    const moved = { ...pen, price: 3 };
    const result = merge(base, { items: [ink] }, { items: [ink, moved] });
    expect(result).toEqual({
      ok: false,
      conflicts: [{ pointer: '/items/1', base: pen, theirs: moved }],
      value: { items: [ink, moved] },
    });
  });

  it('drops elements removed on one side and unchanged on the other, or removed on both', () => {
    const cap = { sku: 'cap' };
    expect(merge({ items: [pen, ink, cap] }, { items: [ink, cap] }, { items: [pen, ink] })).toEqual({
      ok: true,
      value: { items: [ink] },
    });
  });

  it('matches keys by JSON value and merges nested keyed arrays', () => {
    const base = {
      sections: [
        { id: 1, items: [{ id: 1, v: 'a' }] },
        { id: 2, items: [] },
      ],
    };
    const yours = JSON.parse(
      '{"sections": [{"id": 1.0, "items": [{"id": 1, "v": "A"}]}, {"id": 2, "items": [{"id": 7}]}]}',
    ) as JsonValue;
    const theirs = {
      sections: [
        { id: 2, items: [{ id: 8 }] },
        { id: 1, items: [{ id: 1, v: 'a', w: 1 }] },
      ],
    };
    expect(merge(base, yours, theirs)).toEqual({
      ok: true,
      value: {
        sections: [
          { id: 2, items: [{ id: 8 }, { id: 7 }] },
          { id: 1, items: [{ id: 1, v: 'A', w: 1 }] },
        ],
      },
    });
  });

  it('addresses a conflict wholly in yours when theirs no longer has the value', () => {
    const base = {
      sections: [
        { id: 1, items: [{ id: 1, v: 'a' }] },
        { id: 2, items: [] },
      ],
    };
    const yours = {
      sections: [
        { id: 2, items: [] },
        { id: 1, items: [{ id: 1, v: 'A' }] },
      ],
    };
    const theirs = {
      sections: [
        { id: 1, items: [] },
        { id: 2, items: [], x: 1 },
      ],
    };
    const result = merge(base, yours, theirs);
    expect(result).toEqual({
      ok: false,
      conflicts: [{ pointer: '/sections/1/items/0', base: { id: 1, v: 'a' }, yours: { id: 1, v: 'A' } }],
      value: theirs,
    });
    expect(getByPointer(yours, '/sections/1/items/0')).toEqual({ found: true, value: { id: 1, v: 'A' } });
  });

  it('falls back to atomic when an element lacks the key or a key repeats', () => {
    const noKey = merge({ items: [pen] }, { items: [pen, { qty: 1 }] }, { items: [pen, ink] });
    expect(noKey).toEqual({
      ok: false,
      conflicts: [{ pointer: '/items', base: [pen], yours: [pen, { qty: 1 }], theirs: [pen, ink] }],
      value: { items: [pen, ink] },
    });
    const twice = merge({ items: [pen] }, { items: [pen, { ...pen, qty: 5 }] }, { items: [pen, ink] });
    expect(twice).toMatchObject({ ok: false, conflicts: [{ pointer: '/items' }] });
    expect(merge({ items: [pen] }, { items: [pen, 'x'] }, { items: [pen, ink] })).toMatchObject({
      ok: false,
      conflicts: [{ pointer: '/items' }],
    });
  });

  it('merges arrays both sides created', () => {
    expect(merge({}, { items: [pen] }, { items: [ink] })).toEqual({ ok: true, value: { items: [ink, pen] } });
  });

  it('loses a reordering made only by yours when theirs changed the array too', () => {
    expect(
      merge({ items: [pen, ink] }, { items: [ink, pen] }, { items: [pen, ink, { sku: 'cap' }] }),
    ).toEqual({
      ok: true,
      value: { items: [pen, ink, { sku: 'cap' }] },
    });
    // With theirs unchanged, yours is taken as it is.
    expect(merge({ items: [pen, ink] }, { items: [ink, pen] }, { items: [pen, ink] })).toEqual({
      ok: true,
      value: { items: [ink, pen] },
    });
  });
});

describe('set-like arrays (merge key null)', () => {
  it('keeps additions and removals from both sides', () => {
    expect(
      merge({ tags: ['a', 'b', 'c'] }, { tags: ['a', 'c', 'd'] }, { tags: ['e', 'a', 'b', 'c'] }),
    ).toEqual({
      ok: true,
      value: { tags: ['e', 'a', 'c', 'd'] },
    });
  });

  it('takes an element added on both sides once, and one removed on both sides', () => {
    expect(merge({ tags: ['a', 'b'] }, { tags: ['a', 'x'] }, { tags: ['x', 'a'] })).toEqual({
      ok: true,
      value: { tags: ['x', 'a'] },
    });
  });

  it('matches by JSON value, objects included', () => {
    const base = JSON.parse('{"tags": [1, {"k": 1, "j": 2}]}') as JsonValue;
    const yours = JSON.parse('{"tags": [1.0, {"j": 2, "k": 1}, 3]}') as JsonValue;
    const theirs = JSON.parse('{"tags": [{"k": 1, "j": 2}]}') as JsonValue;
    expect(merge(base, yours, theirs)).toEqual({ ok: true, value: { tags: [{ k: 1, j: 2 }, 3] } });
  });

  it('falls back to atomic when a value repeats', () => {
    expect(merge({ tags: ['a'] }, { tags: ['a', 'a'] }, { tags: ['a', 'b'] })).toMatchObject({
      ok: false,
      conflicts: [{ pointer: '/tags' }],
    });
  });
});
