import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { invalidUtf8Offset } from './utf8.js';

const decodes = (bytes: Uint8Array): boolean => {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
};

describe('invalidUtf8Offset', () => {
  it('agrees with a fatal TextDecoder, and everything before the offset is UTF-8 (property)', () => {
    // Bytes biased towards the interesting range: lead bytes, continuation bytes and ASCII.
    const byte = fc.oneof(fc.integer({ min: 0x80, max: 0xff }), fc.integer({ min: 0, max: 0x7f }));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 12 }), (list) => {
        const bytes = Uint8Array.from(list);
        const offset = invalidUtf8Offset(bytes);
        expect(offset === -1).toBe(decodes(bytes));
        if (offset >= 0) expect(decodes(bytes.subarray(0, offset))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('points at the sequence that breaks', () => {
    const text = new TextEncoder().encode('aé€😀');
    expect(invalidUtf8Offset(text)).toBe(-1);
    expect(invalidUtf8Offset(Uint8Array.from([0x61, 0xc0, 0x80]))).toBe(1); // overlong
    expect(invalidUtf8Offset(Uint8Array.from([0x61, 0x62, 0xed, 0xa0, 0x80]))).toBe(2); // surrogate
    expect(invalidUtf8Offset(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // past U+10FFFF
    expect(invalidUtf8Offset(Uint8Array.from([0x61, 0xe2, 0x82]))).toBe(1); // cut short
    expect(invalidUtf8Offset(Uint8Array.from([0x80]))).toBe(0); // stray continuation
  });
});
