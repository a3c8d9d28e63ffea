import { describe, expect, it } from 'vitest';
import { backoffFor, DEFAULT_RETRY, fullJitter } from './policy.js';
import { retryAfterMs } from './retry-after.js';

describe('Retry-After (RFC 9110 10.2.3)', () => {
  const now = Date.parse('2026-11-22T10:00:00Z');
  it('reads delay-seconds', () => {
    expect(retryAfterMs('0', null, now)).toBe(0);
    expect(retryAfterMs(' 120 ', null, now)).toBe(120_000);
  });
  it('reads an HTTP-date in all three forms, from the Date header when there is one', () => {
    expect(retryAfterMs('Sun, 22 Nov 2026 10:00:05 GMT', null, now)).toBe(5000);
    expect(retryAfterMs('Sunday, 22-Nov-26 10:00:05 GMT', null, now)).toBe(5000);
    expect(retryAfterMs('Sun Nov 22 10:00:05 2026', null, now)).toBe(5000);
    // The server's clock says 09:00:00: wait five seconds of its time, whatever ours says.
    expect(retryAfterMs('Sun, 22 Nov 2026 09:00:05 GMT', 'Sun, 22 Nov 2026 09:00:00 GMT', now)).toBe(5000);
    expect(retryAfterMs('Sun, 22 Nov 2026 09:00:00 GMT', null, now)).toBe(0);
  });
  it('ignores what is neither', () => {
    for (const bad of ['', '-1', '1.5', 'soon', 'Sun, 31 Nov 2026 10:00:00 GMT']) {
      expect(retryAfterMs(bad, null, now)).toBeUndefined();
    }
    expect(retryAfterMs(null, null, now)).toBeUndefined();
  });
});

describe('full jitter', () => {
  it('draws between 0 and min(cap, base * 2^(retry-1))', () => {
    expect(fullJitter(100, 20_000, 1, () => 0)).toBe(0);
    expect(fullJitter(100, 20_000, 1, () => 0.999999)).toBe(99);
    expect(fullJitter(100, 20_000, 3, () => 0.5)).toBe(200);
    expect(fullJitter(100, 1000, 10, () => 0.999999)).toBe(999);
  });
  it('starts at 500 ms for 429 and 503, 100 ms otherwise', () => {
    const top = () => 0.999999;
    expect(backoffFor(DEFAULT_RETRY, 1, 503, top)).toBe(499);
    expect(backoffFor(DEFAULT_RETRY, 1, 429, top)).toBe(499);
    expect(backoffFor(DEFAULT_RETRY, 1, 502, top)).toBe(99);
    expect(backoffFor(DEFAULT_RETRY, 2, undefined, top)).toBe(199);
  });
});
