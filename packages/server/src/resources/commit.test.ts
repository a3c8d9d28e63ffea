import { afterEach, describe, expect, it, vi } from 'vitest';
import { casRounds, MAX_ROUNDS, ROUND_BUDGET_MS } from './commit.js';

describe('casRounds', () => {
  afterEach(() => vi.useRealTimers());

  it('gives MAX_ROUNDS rounds when they are quick', () => {
    expect([...casRounds()]).toHaveLength(MAX_ROUNDS);
  });

  it('starts no round once the time budget is spent, but always the first', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const rounds: number[] = [];
    for (const round of casRounds()) {
      rounds.push(round);
      vi.advanceTimersByTime(ROUND_BUDGET_MS / 4);
    }
    expect(rounds).toStrictEqual([0, 1, 2, 3]);
    vi.advanceTimersByTime(10 * ROUND_BUDGET_MS);
    const slow = casRounds();
    expect(slow.next()).toStrictEqual({ value: 0, done: false });
    vi.advanceTimersByTime(ROUND_BUDGET_MS);
    expect(slow.next().done).toBe(true);
  });
});
