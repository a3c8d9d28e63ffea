import { describe, expect, it } from 'vitest';
import { parseDuration, parseMilliseconds, parseRetryAfter, untilDate } from './retry-after.js';

/** Reading when a provider says to come back. */
describe('retry-after', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('20', now)).toBe(20);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(2);
    expect(parseRetryAfter('Fri, 04 Dec 2026 12:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Fri, 04 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('reads RFC 3339 times', () => {
    expect(untilDate('2026-12-04T12:00:07Z', now)).toBe(7);
    expect(untilDate('2026-12-04T12:00:00.500Z', now)).toBe(1);
    expect(untilDate('nonsense', now)).toBeUndefined();
  });

  it('reads Go durations, rounding up', () => {
    expect(parseDuration('1s')).toBe(1);
    expect(parseDuration('6m0s')).toBe(360);
    expect(parseDuration('20ms')).toBe(1);
    expect(parseDuration('1h2m3.5s')).toBe(3724);
    expect(parseDuration('0s')).toBe(0);
    expect(parseDuration('12')).toBeUndefined();
    expect(parseDuration('1x')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });

  it('reads milliseconds', () => {
    expect(parseMilliseconds('1500')).toBe(2);
    expect(parseMilliseconds('abc')).toBeUndefined();
    expect(parseMilliseconds(undefined)).toBeUndefined();
  });
});
