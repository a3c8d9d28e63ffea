import { afterEach, describe, expect, it, vi } from 'vitest';
import { casRounds, casTurns, MAX_ROUNDS, ROUND_BUDGET_MS } from './commit.js';
import type { ResourceContext } from './context.js';

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

describe('casTurns', () => {
  const ctx = { store: {} } as unknown as ResourceContext;
  const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

  it('lets one loser at a time retry a resource, in order, and frees the turn however the loop ends', async () => {
    let inRetry = 0;
    let most = 0;
    const order: number[] = [];
    const writer = async (w: number, winAt: number) => {
      for await (const round of casTurns(ctx, 'docs', 'hot')) {
        if (round > 0) {
          inRetry++;
          most = Math.max(most, inRetry);
        }
        await tick();
        if (round > 0) inRetry--;
        if (round === winAt) {
          order.push(w);
          if (w === 3) throw new Error('a refusal ends the loop too');
          return;
        }
      }
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map((w) => writer(w, 2)));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(most).toBe(1);
    expect(order).toStrictEqual([0, 1, 2, 3, 4]);
    // Every turn was given back: a new loser gets one at once.
    const again = casTurns(ctx, 'docs', 'hot');
    await again.next();
    const second = await Promise.race([again.next(), tick().then(() => 'waiting')]);
    expect(second).toStrictEqual({ value: 1, done: false });
    await again.return(undefined);
  });

  it('keeps resources apart, and a first round never waits', async () => {
    const holder = casTurns(ctx, 'docs', 'a');
    await holder.next();
    await holder.next(); // holds the turn of docs/a
    const other = casTurns(ctx, 'docs', 'b');
    await other.next();
    expect(await Promise.race([other.next(), tick().then(() => 'waiting')])).toStrictEqual({
      value: 1,
      done: false,
    });
    const sameFirst = casTurns(ctx, 'docs', 'a');
    expect(await sameFirst.next()).toStrictEqual({ value: 0, done: false });
    expect(await Promise.race([sameFirst.next(), tick().then(() => 'waiting')])).toBe('waiting');
    await holder.return(undefined);
    await other.return(undefined);
  });
});
