import { describe, expect, it } from 'vitest';
import { windowPieces } from './lifecycle-rollups.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 2, 9, 17, 0);

describe('lifecycle roll-up windows', () => {
  it('splits a window into days in the middle, hours beside them, minutes at the edges', () => {
    expect(windowPieces(T0, T0 + 2 * DAY)).toEqual([
      { span: MINUTE, from: T0, to: T0 + 43 * MINUTE },
      { span: HOUR, from: T0 + 43 * MINUTE, to: Date.UTC(2026, 0, 3) },
      { span: DAY, from: Date.UTC(2026, 0, 3), to: Date.UTC(2026, 0, 4) },
      { span: HOUR, from: Date.UTC(2026, 0, 4), to: Date.UTC(2026, 0, 4, 9) },
      { span: MINUTE, from: Date.UTC(2026, 0, 4, 9), to: T0 + 2 * DAY },
    ]);
    expect(windowPieces(T0, T0 + 5 * MINUTE)).toEqual([{ span: MINUTE, from: T0, to: T0 + 5 * MINUTE }]);
    expect(windowPieces(T0, T0)).toEqual([]);
  });

  it('covers any window of whole minutes exactly, with aligned pieces and a bounded number of rows', () => {
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 500; i++) {
      const from = T0 + random(3 * 24 * 60) * MINUTE;
      const to = from + random(10 * 24 * 60) * MINUTE;
      const pieces = windowPieces(from, to);
      let at = from;
      let rows = 0;
      for (const p of pieces) {
        expect(p.from).toBe(at);
        expect(p.to).toBeGreaterThan(p.from);
        expect(p.from % p.span).toBe(0);
        expect(p.to % p.span).toBe(0);
        rows += (p.to - p.from) / p.span;
        at = p.to;
      }
      expect(at).toBe(to);
      // At most 59 minutes and 23 hours on each side of the days.
      expect(rows).toBeLessThanOrEqual(Math.ceil((to - from) / DAY) + 2 * 23 + 2 * 59);
    }
  });
});
