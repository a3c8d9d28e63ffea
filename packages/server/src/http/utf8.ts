/**
 * Where a byte sequence stops being UTF-8. Only the error path of body parsing calls this (the fast
 * check is `isUtf8` from `node:buffer`), so it favours plainness over speed.
 */

/**
 * The offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629
 * section 4: no overlong forms, no surrogates, nothing above U+10FFFF), or -1 when all of
 * `bytes` is UTF-8. A sequence cut short by the end of the input is invalid at its first byte.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // Lead byte: the sequence length and the range its first continuation byte must be in, which
    // is what rules out overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF (F4).
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) low = 0xa0;
      if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) low = 0x90;
      if (b === 0xf4) high = 0x8f;
    } else return i;
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k];
      const min = k === 1 ? low : 0x80;
      const max = k === 1 ? high : 0xbf;
      if (next === undefined || next < min || next > max) return i;
    }
    i += length;
  }
  return -1;
}
