/**
 * Keyed-array merging against a small model, on random arrays of `{ id, f, g }` elements and random
 * removals, additions and field edits on each side.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonValue } from '../json.js';
import { getByPointer } from '../pointer.js';
import type { MergeResult } from './merge-json.js';
import { mergeJson } from './merge-json.js';

type Element = { id: number; f: number; g: number };
type Edit = { kind: 'remove' | 'f' | 'g' | 'add'; pick: number; value: number; id: number };

const field = fc.integer({ min: 0, max: 2 });
const base = fc.uniqueArray(fc.record({ id: fc.integer({ min: 0, max: 7 }), f: field, g: field }), {
  selector: (element) => element.id,
  maxLength: 6,
});
// Added ids overlap the base's and each other's, so that both sides sometimes add the same element.
const edit = fc.record({
  kind: fc.constantFrom('remove', 'f', 'g', 'add'),
  pick: fc.nat(),
  value: field,
  id: fc.integer({ min: 5, max: 11 }),
});
const edits = fc.array(edit, { maxLength: 4 });

function applyEdits(items: readonly Element[], list: readonly Edit[]): Element[] {
  const out = items.map((element) => ({ ...element }));
  for (const { kind, pick, value, id } of list) {
    const at = out.length === 0 ? -1 : pick % out.length;
    const target = out[at];
    if (kind === 'add') {
      if (!out.some((element) => element.id === id))
        out.splice(pick % (out.length + 1), 0, { id, f: value, g: 0 });
    } else if (target === undefined) {
      continue;
    } else if (kind === 'remove') {
      out.splice(at, 1);
    } else {
      target[kind] = value;
    }
  }
  return out;
}

type Expected = { items: Element[]; conflicts: Set<string> };

// The model: the array, then every element merged three ways, then each of its fields.
function model(b: readonly Element[], y: readonly Element[], t: readonly Element[]): Expected {
  const find = (list: readonly Element[], id: number) => list.find((element) => element.id === id);
  const same = (p: Element | undefined, q: Element | undefined) =>
    p === undefined || q === undefined ? p === q : p.f === q.f && p.g === q.g;
  const conflicts = new Set<string>();
  const merge = (id: number): Element | undefined => {
    const [was, mine, other] = [find(b, id), find(y, id), find(t, id)];
    if (same(mine, other) || same(was, mine)) return other;
    if (same(was, other)) return mine;
    if (mine === undefined || other === undefined) {
      conflicts.add(`${id}`);
      return other;
    }
    const pick = (key: 'f' | 'g'): number => {
      if (mine[key] === other[key] || mine[key] === was?.[key]) return other[key];
      if (other[key] === was?.[key]) return mine[key];
      conflicts.add(`${id}/${key}`);
      return other[key];
    };
    return { id, f: pick('f'), g: pick('g') };
  };
  // A side that left the whole array as it was takes the other's array, order included.
  const unchanged = (p: readonly Element[], q: readonly Element[]) =>
    p.length === q.length && p.every((element, i) => element.id === q[i]?.id && same(element, q[i]));
  if (unchanged(y, t) || unchanged(b, y)) return { items: [...t], conflicts };
  if (unchanged(b, t)) return { items: [...y], conflicts };
  const ids = [...t.map((e) => e.id), ...y.map((e) => e.id).filter((id) => find(t, id) === undefined)];
  const items = ids.map(merge).filter((element): element is Element => element !== undefined);
  return { items, conflicts };
}

// A conflict by element id (and field), found through the document its pointer addresses.
function conflictIds(result: MergeResult, yours: JsonValue, theirs: JsonValue): Set<string> {
  if (result.ok) return new Set();
  return new Set(
    result.conflicts.map((c) => {
      const [, , index, member] = c.pointer.split('/');
      const hit = getByPointer(c.theirs === undefined ? yours : theirs, `/items/${index}`);
      const id = hit.found ? (hit.value as Element).id : NaN;
      return member === undefined ? `${id}` : `${id}/${member}`;
    }),
  );
}

const policy = { arrays: { '/items': 'id' } };

describe('keyed arrays against a model', () => {
  it('merges, orders and reports conflicts as the model does', () => {
    fc.assert(
      fc.property(base, edits, edits, (items, mine, other) => {
        const [y, t] = [applyEdits(items, mine), applyEdits(items, other)];
        const expected = model(items, y, t);
        const result = mergeJson({ items }, { items: y }, { items: t }, policy);
        expect(result.value).toEqual({ items: expected.items });
        expect(conflictIds(result, { items: y }, { items: t })).toEqual(expected.conflicts);
        expect(result.ok).toBe(expected.conflicts.size === 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same elements with the sides swapped', () => {
    const byId = (r: MergeResult) =>
      [...((r.value as { items: Element[] }).items ?? [])].sort((p, q) => p.id - q.id);
    fc.assert(
      fc.property(base, edits, edits, (items, mine, other) => {
        const [y, t] = [applyEdits(items, mine), applyEdits(items, other)];
        const forward = mergeJson({ items }, { items: y }, { items: t }, policy);
        const backward = mergeJson({ items }, { items: t }, { items: y }, policy);
        expect(backward.ok).toBe(forward.ok);
        if (forward.ok) expect(byId(backward)).toEqual(byId(forward));
        expect(conflictIds(backward, { items: t }, { items: y })).toEqual(
          conflictIds(forward, { items: y }, { items: t }),
        );
      }),
      { numRuns: 500 },
    );
  });
});
