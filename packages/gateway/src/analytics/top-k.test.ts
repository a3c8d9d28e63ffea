import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOUR, MINUTE, periods } from '../calls/key-rollups.js';
import { addKey, emptyKey, type KeyCounts, topK } from './top-k.js';

const keyed = (key: string, conflicts: number, calls: number): KeyCounts => ({
  ...emptyKey(key),
  conflicts,
  calls: calls + conflicts,
});

describe('top-K cut', () => {
  it('keeps the keys with most conflicts (then calls, then by key) and records the largest dropped count', () => {
    const { kept, error } = topK(
      [keyed('c', 1, 9), keyed('a', 5, 0), keyed('b', 5, 1), keyed('d', 0, 50)],
      2,
    );
    expect(kept.map((k) => k.key)).toEqual(['b', 'a']);
    expect(error).toMatchObject({ conflicts: 1, calls: 50 });
    expect(topK([keyed('a', 1, 0)], 2).error.conflicts).toBe(0);
  });

  it('summed over periods, a count is never over the truth and short of it by at most the summed errors, at most N/(K+1) each', () => {
    const period = fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 20 })), {
      maxLength: 40,
    });
    fc.assert(
      fc.property(
        fc.array(period, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 10 }),
        (periods, k) => {
          const truth = new Map<string, number>();
          const kept = new Map<string, KeyCounts>();
          let error = 0;
          for (const rows of periods) {
            const keys = rows.map(([conflicts, calls], i) => keyed(`k${i}`, conflicts, calls));
            for (const x of keys) truth.set(x.key, (truth.get(x.key) ?? 0) + x.conflicts);
            const cut = topK(keys, k);
            const total = keys.reduce((n, x) => n + x.conflicts, 0);
            expect(cut.error.conflicts).toBeLessThanOrEqual(total / (k + 1));
            error += cut.error.conflicts;
            for (const x of cut.kept) {
              let sum = kept.get(x.key);
              if (!sum) kept.set(x.key, (sum = emptyKey(x.key)));
              addKey(sum, x);
            }
          }
          for (const [key, n] of truth) {
            const shown = kept.get(key)?.conflicts ?? 0;
            expect(shown).toBeLessThanOrEqual(n);
            expect(shown).toBeGreaterThanOrEqual(n - error);
          }
        },
      ),
    );
  });
});

describe('the periods a window is read in', () => {
  const T = Date.UTC(2026, 0, 2, 0, 0, 0);
  it('whole hours where compacted, minutes around them, the edge minutes whole', () => {
    expect(periods(T + 30 * MINUTE + 5, T + 5 * HOUR + 10 * MINUTE + 1, T + 4 * HOUR, T)).toEqual([
      { span: HOUR, from: T + HOUR, to: T + 4 * HOUR },
      { span: MINUTE, from: T + 30 * MINUTE, to: T + HOUR },
      { span: MINUTE, from: T + 4 * HOUR, to: T + 5 * HOUR + 11 * MINUTE },
    ]);
    // Nothing compacted: minutes only.
    expect(periods(T, T + 2 * HOUR, T, T)).toEqual([{ span: MINUTE, from: T, to: T + 2 * HOUR }]);
  });

  it('where the minute rows are gone, the hour around the edge whole', () => {
    expect(periods(T + 30 * MINUTE, T + 3 * HOUR, T + 2 * HOUR, T + 2 * HOUR)).toEqual([
      { span: HOUR, from: T, to: T + 2 * HOUR },
      { span: MINUTE, from: T + 2 * HOUR, to: T + 3 * HOUR },
    ]);
  });
});
