import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Hunk } from './line-diff.js';
import { diffLines } from './line-diff.js';

// A small alphabet, so that lines repeat and the diff has real choices to make.
const lines = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 30 });

function apply(base: readonly number[], side: readonly number[], hunks: readonly Hunk[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const hunk of hunks) {
    out.push(...base.slice(at, hunk.baseStart), ...side.slice(hunk.sideStart, hunk.sideEnd));
    at = hunk.baseEnd;
  }
  return [...out, ...base.slice(at)];
}

// Lines the hunks leave untouched: what the diff kept in common.
function kept(base: readonly number[], hunks: readonly Hunk[]): number {
  return base.length - hunks.reduce((sum, hunk) => sum + hunk.baseEnd - hunk.baseStart, 0);
}

// Textbook dynamic programming, for comparison on small inputs.
function lcsLength(a: readonly number[], b: readonly number[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = x === b[j - 1] ? diagonal + 1 : Math.max(above, row[j - 1] as number);
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

describe('diffLines', () => {
  it('gives no hunks for equal inputs', () => {
    expect(diffLines([], [])).toEqual([]);
    expect(diffLines([1, 2, 3], [1, 2, 3])).toEqual([]);
  });

  it('finds insertions, deletions and replacements', () => {
    expect(diffLines([1, 2, 3], [1, 9, 2, 3])).toEqual([
      { baseStart: 1, baseEnd: 1, sideStart: 1, sideEnd: 2 },
    ]);
    expect(diffLines([1, 2, 3], [1, 3])).toEqual([{ baseStart: 1, baseEnd: 2, sideStart: 1, sideEnd: 1 }]);
    expect(diffLines([1, 2, 3, 4, 5], [9, 2, 3, 4, 8])).toEqual([
      { baseStart: 0, baseEnd: 1, sideStart: 0, sideEnd: 1 },
      { baseStart: 4, baseEnd: 5, sideStart: 4, sideEnd: 5 },
    ]);
    expect(diffLines([], [1, 2])).toEqual([{ baseStart: 0, baseEnd: 0, sideStart: 0, sideEnd: 2 }]);
  });

  it('gives well-formed hunks that turn base into side through a longest common subsequence', () => {
    fc.assert(
      fc.property(lines, lines, (base, side) => {
        const hunks = diffLines(base, side);
        expect(apply(base, side, hunks)).toEqual(side);
        expect(kept(base, hunks)).toBe(lcsLength(base, side));
        let previous: Hunk | undefined;
        for (const hunk of hunks) {
          expect(hunk.baseEnd - hunk.baseStart + hunk.sideEnd - hunk.sideStart).toBeGreaterThan(0);
          // At least one unchanged line between hunks, the same number on both sides.
          if (previous) {
            expect(hunk.baseStart).toBeGreaterThan(previous.baseEnd);
            expect(hunk.baseStart - previous.baseEnd).toBe(hunk.sideStart - previous.sideEnd);
          }
          previous = hunk;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reports the differing middle as one hunk past the edit limit', () => {
    const base = [0, 1, 2, 3, 4, 5, 0];
    const side = [0, 5, 4, 3, 2, 1, 0];
    expect(diffLines(base, side, 2)).toEqual([{ baseStart: 1, baseEnd: 6, sideStart: 1, sideEnd: 6 }]);
    expect(kept(base, diffLines(base, side))).toBe(lcsLength(base, side));
    fc.assert(
      fc.property(lines, lines, fc.integer({ min: 0, max: 6 }), (a, b, limit) => {
        expect(apply(a, b, diffLines(a, b, limit))).toEqual(b);
      }),
    );
  });

  it('stays fast on long inputs with few edits, and on long inputs with many', () => {
    const long = Array.from({ length: 50_000 }, (_, i) => i);
    const edited = [-1, ...long.slice(1, 25_000), -2, ...long.slice(25_001, -1), -3];
    expect(diffLines(long, edited)).toHaveLength(3);
    const reversed = [...long].reverse();
    const started = Date.now();
    expect(diffLines(long, reversed)).toEqual([
      { baseStart: 0, baseEnd: 50_000, sideStart: 0, sideEnd: 50_000 },
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
