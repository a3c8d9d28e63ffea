import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIdempotencyKey } from './idempotency-key.js';

describe('parseIdempotencyKey', () => {
  it('accepts the structured-field string form with its escapes', () => {
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toEqual({
      ok: true,
      key: '8e03978e-40d5-43e8-bc93-6894a57f9324',
    });
    expect(parseIdempotencyKey('"a \\"quoted\\" \\\\ key"')).toEqual({ ok: true, key: 'a "quoted" \\ key' });
    expect(parseIdempotencyKey('  "spaced"  ')).toEqual({ ok: true, key: 'spaced' });
  });

  it('accepts a bare token', () => {
    expect(parseIdempotencyKey('01HZX3K2Q8Y7W6V5T4S3R2Q1P0')).toEqual({
      ok: true,
      key: '01HZX3K2Q8Y7W6V5T4S3R2Q1P0',
    });
    expect(parseIdempotencyKey('order:42/retry_1')).toEqual({ ok: true, key: 'order:42/retry_1' });
  });

  it('refuses empty, over-long, unterminated and non-ASCII keys', () => {
    for (const bad of [
      '',
      '""',
      '"open',
      '"a"b',
      '"bad \\n escape"',
      'two words',
      'a,b',
      '"é"',
      'x'.repeat(256),
      `"${'y'.repeat(256)}"`,
    ]) {
      expect(parseIdempotencyKey(bad).ok, JSON.stringify(bad)).toBe(false);
    }
    expect(parseIdempotencyKey('x'.repeat(255)).ok).toBe(true);
  });

  it('round-trips any printable ASCII key through the quoted form', () => {
    const printable = fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 255,
    });
    fc.assert(
      fc.property(printable, (key) => {
        const quoted = `"${key.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
        expect(parseIdempotencyKey(quoted)).toEqual({ ok: true, key });
      }),
    );
  });
});
