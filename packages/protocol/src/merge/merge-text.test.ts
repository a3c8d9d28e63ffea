import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mergeText } from './merge-text.js';

const text = (...lines: string[]): string => lines.join('\n');
// Few distinct lines, so that edits collide and lines repeat.
const line = fc.constantFrom('a', 'b', 'c', '', 'a\r');
const doc = fc.array(line, { maxLength: 8 }).map((lines) => lines.join('\n'));

describe('mergeText', () => {
  it('keeps changes to different lines from both sides', () => {
    const base = text('one', 'two', 'three', 'four', 'five');
    expect(
      mergeText(
        base,
        text('ONE', 'two', 'three', 'four', 'five'),
        text('one', 'two', 'three', 'four', 'FIVE'),
      ),
    ).toEqual({ ok: true, value: text('ONE', 'two', 'three', 'four', 'FIVE') });
    // Neighbouring lines are different lines.
    expect(
      mergeText(
        base,
        text('one', 'TWO', 'three', 'four', 'five'),
        text('one', 'two', 'THREE', 'four', 'five'),
      ),
    ).toEqual({ ok: true, value: text('one', 'TWO', 'THREE', 'four', 'five') });
    // Insertions and deletions shift lines; the merge follows them.
    expect(
      mergeText(
        base,
        text('zero', 'one', 'two', 'three', 'four', 'five'),
        text('one', 'two', 'three', 'five'),
      ),
    ).toEqual({ ok: true, value: text('zero', 'one', 'two', 'three', 'five') });
  });

  it('reports different changes to the same line', () => {
    expect(mergeText(text('a', 'b', 'c'), text('a', 'X', 'c'), text('a', 'Y', 'c'))).toEqual({
      ok: false,
      conflicts: [{ baseLines: [1, 2], base: 'b', yours: 'X', theirs: 'Y' }],
    });
  });

  it('takes the same change on both sides once', () => {
    expect(mergeText(text('a', 'b', 'c'), text('a', 'X', 'c', 'd'), text('a', 'X', 'c'))).toEqual({
      ok: true,
      value: text('a', 'X', 'c', 'd'),
    });
  });

  it('reports every overlapping change, in line order', () => {
    const base = text('1', '2', '3', '4', '5', '6', '7');
    const result = mergeText(
      base,
      text('1', 'y2', '3', '4', '5', 'y6', '7'),
      text('1', 't2', '3', 'T4', '5', 't6', '7'),
    );
    expect(result).toEqual({
      ok: false,
      conflicts: [
        { baseLines: [1, 2], base: '2', yours: 'y2', theirs: 't2' },
        { baseLines: [5, 6], base: '6', yours: 'y6', theirs: 't6' },
      ],
    });
  });

  it('widens a conflict over every line either side changed in an overlapping run', () => {
    const result = mergeText(text('a', 'b', 'c', 'd'), text('A', 'B', 'c', 'd'), text('a', 'b2', 'C', 'd'));
    expect(result).toEqual({
      ok: false,
      conflicts: [
        {
          baseLines: [0, 3],
          base: text('a', 'b', 'c'),
          yours: text('A', 'B', 'c'),
          theirs: text('a', 'b2', 'C'),
        },
      ],
    });
  });

  it('reports two different lines added at the same place, such as the end, as a conflict', () => {
    expect(mergeText(text('a', 'b'), text('a', 'b', 'c'), text('a', 'b', 'd'))).toEqual({
      ok: false,
      conflicts: [{ baseLines: [2, 2], base: '', yours: 'c', theirs: 'd' }],
    });
    // With a final newline, the end is before the empty last "line".
    expect(mergeText('a\n', 'a\nc\n', 'a\nd\n')).toMatchObject({
      ok: false,
      conflicts: [{ baseLines: [1, 1] }],
    });
    // The same line added on both sides is one change.
    expect(mergeText('a\n', 'a\nc\n', 'a\nc\n')).toEqual({ ok: true, value: 'a\nc\n' });
    // An insertion next to a change on the other side: their order cannot be decided.
    expect(mergeText(text('a', 'b'), text('a', 'b', 'c'), text('a', 'B'))).toMatchObject({ ok: false });
  });

  it('adds at the end on one side and at the start on the other', () => {
    expect(mergeText(text('a', 'b'), text('a', 'b', 'c'), text('z', 'a', 'b'))).toEqual({
      ok: true,
      value: text('z', 'a', 'b', 'c'),
    });
  });

  it('keeps line endings and a missing final newline as they are', () => {
    expect(mergeText('a\r\nb\r\nc', 'A\r\nb\r\nc', 'a\r\nb\r\nC')).toEqual({
      ok: true,
      value: 'A\r\nb\r\nC',
    });
    expect(mergeText('', 'x', '')).toEqual({ ok: true, value: 'x' });
    expect(mergeText('', 'x', 'y')).toMatchObject({ ok: false, conflicts: [{ baseLines: [0, 1] }] });
  });

  it('merges long texts', () => {
    const base = Array.from({ length: 200_000 }, (_, i) => `line ${i}`);
    const [ours, theirs] = [[...base], [...base]];
    ours[10] = 'ours';
    theirs[199_990] = 'theirs';
    const expected = [...ours];
    expected[199_990] = 'theirs';
    expect(mergeText(base.join('\n'), ours.join('\n'), theirs.join('\n'))).toEqual({
      ok: true,
      value: expected.join('\n'),
    });
  });

  it('treats texts too different to diff as one change', () => {
    const base = Array.from({ length: 3000 }, (_, i) => `line ${i}`);
    const reversed = [...base].reverse();
    const ours = [...base];
    ours[1500] = 'ours';
    const result = mergeText(base.join('\n'), ours.join('\n'), reversed.join('\n'));
    expect(result).toMatchObject({ ok: false, conflicts: [{ baseLines: [0, 3000] }] });
  });

  it('obeys the merge laws', () => {
    fc.assert(
      fc.property(doc, doc, (b, x) => {
        expect(mergeText(b, b, x)).toEqual({ ok: true, value: x });
        expect(mergeText(b, x, b)).toEqual({ ok: true, value: x });
        expect(mergeText(b, x, x)).toEqual({ ok: true, value: x });
      }),
    );
  });

  it('is symmetric: swapping the sides swaps the conflicts and keeps a clean merge', () => {
    fc.assert(
      fc.property(doc, doc, doc, (b, y, t) => {
        const forward = mergeText(b, y, t);
        const backward = mergeText(b, t, y);
        if (forward.ok) {
          expect(backward).toEqual(forward);
        } else {
          expect(backward.ok).toBe(false);
          const swapped = forward.conflicts.map((c) => ({ ...c, yours: c.theirs, theirs: c.yours }));
          expect(!backward.ok && backward.conflicts).toEqual(swapped);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('merges edits to lines apart from each other, whatever they are', () => {
    // Distinct base lines, so that each side's diff is unambiguous; each side edits (replaces,
    // deletes, or inserts before) its own lines, and no two edited lines are next to each other.
    const edit = fc.constantFrom('keep', 'replace', 'delete', 'insert');
    fc.assert(
      fc.property(fc.array(fc.tuple(edit, fc.boolean()), { minLength: 1, maxLength: 20 }), (plan) => {
        const base = plan.map((_, i) => `L${i}`);
        const make = (side: 'y' | 't'): string[] =>
          base.flatMap((l, i) => {
            const [action, yoursTurn] = plan[i] ?? ['keep', true];
            if (i % 2 === 1 || action === 'keep' || yoursTurn !== (side === 'y')) return [l];
            if (action === 'replace') return [`${side}${i}`];
            if (action === 'delete') return [];
            return [`${side}${i}`, l];
          });
        const expected = base.flatMap((l, i) => {
          const [action, yoursTurn] = plan[i] ?? ['keep', true];
          const side = yoursTurn ? 'y' : 't';
          if (i % 2 === 1 || action === 'keep') return [l];
          if (action === 'replace') return [`${side}${i}`];
          if (action === 'delete') return [];
          return [`${side}${i}`, l];
        });
        expect(mergeText(base.join('\n'), make('y').join('\n'), make('t').join('\n'))).toEqual({
          ok: true,
          value: expected.join('\n'),
        });
      }),
      { numRuns: 300 },
    );
  });
});
