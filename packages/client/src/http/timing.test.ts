import { describe, expect, it } from 'vitest';
import { newKey } from '../client/context.js';
import { openScope } from './timing.js';

describe('operation scope', () => {
  it('gives fetch no signal when nothing can abort the operation, and a signal that never aborts to waits', () => {
    const scope = openScope(undefined, undefined, 0);
    expect(scope.fetchSignal).toBeUndefined();
    expect(scope.deadline).toBe(Infinity);
    expect(scope.signal.aborted).toBe(false);
    expect(scope.signal).toBe(scope.signal);
    scope.close();
  });
  it("gives fetch the operation's signal under a deadline or a caller's signal", async () => {
    const timed = openScope(undefined, 5, 1000);
    expect(timed.fetchSignal).toBe(timed.signal);
    expect(timed.deadline).toBe(1005);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(timed.signal.aborted).toBe(true);
    expect((timed.signal.reason as DOMException).name).toBe('TimeoutError');
    timed.close();
    const caller = new AbortController();
    const scope = openScope(caller.signal, undefined, 0);
    expect(scope.fetchSignal).toBe(scope.signal);
    caller.abort(new Error('stop'));
    expect(scope.signal.reason).toEqual(new Error('stop'));
    scope.close();
  });
});

describe('Idempotency-Key', () => {
  it('is 128 random bits in hex, never the same twice across refills of the random pool', () => {
    const keys = Array.from({ length: 1000 }, () => newKey());
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(keys).size).toBe(keys.length);
    // Every hex digit shows up in every position: the bytes are spread, not stuck at a value.
    for (let i = 0; i < 32; i++) expect(new Set(keys.map((k) => k[i])).size).toBe(16);
  });
});
