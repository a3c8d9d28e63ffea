import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { EntityTag } from './etag.js';
import {
  formatEntityTag,
  parseEntityTag,
  parseEntityTagCondition,
  strongCompare,
  weakCompare,
} from './etag.js';

const strong = (opaque: string): EntityTag => ({ weak: false, opaque });
const weak = (opaque: string): EntityTag => ({ weak: true, opaque });

describe('parseEntityTag', () => {
  it('parses strong and weak tags without their quotes', () => {
    expect(parseEntityTag('"xyzzy"')).toEqual(strong('xyzzy'));
    expect(parseEntityTag('W/"xyzzy"')).toEqual(weak('xyzzy'));
    expect(parseEntityTag('""')).toEqual(strong(''));
    expect(parseEntityTag('"a,b!#~"')).toEqual(strong('a,b!#~'));
  });

  it('accepts obs-text (octets 0x80 to 0xFF)', () => {
    expect(parseEntityTag('"caf\u00e9\u0080\u00ff"')).toEqual(strong('caf\u00e9\u0080\u00ff'));
  });

  it('rejects anything outside the grammar', () => {
    const bad = [
      'xyzzy',
      '"xyzzy',
      'xyzzy"',
      'w/"x"',
      'W/x',
      'W/ "x"',
      ' "x"',
      '"x" ',
      '"a"b"',
      '"a b"',
      '"\u0100"',
      '"\t"',
      '*',
      '',
    ];
    for (const value of bad) expect(parseEntityTag(value)).toBeNull();
  });
});

describe('formatEntityTag', () => {
  it('adds the quotes and the W/ prefix', () => {
    expect(formatEntityTag(strong('v1'))).toBe('"v1"');
    expect(formatEntityTag(weak('v1'))).toBe('W/"v1"');
  });

  it('refuses content that would corrupt the header', () => {
    expect(() => formatEntityTag(strong('a"b'))).toThrow(TypeError);
    expect(() => formatEntityTag(strong('a\r\nSet-Cookie: x'))).toThrow(TypeError);
  });

  it('round-trips with parseEntityTag', () => {
    const etagc = fc.mapToConstant(
      { num: 1, build: () => '!' },
      { num: 0x7e - 0x23 + 1, build: (i) => String.fromCharCode(0x23 + i) },
      { num: 0x80, build: (i) => String.fromCharCode(0x80 + i) },
    );
    const tag = fc.record({ weak: fc.boolean(), opaque: fc.string({ unit: etagc }) });
    fc.assert(
      fc.property(tag, (t) => {
        expect(parseEntityTag(formatEntityTag(t))).toEqual(t);
      }),
    );
  });
});

describe('parseEntityTagCondition', () => {
  it('parses *', () => {
    expect(parseEntityTagCondition('*')).toEqual({ any: true });
    expect(parseEntityTagCondition(' * ')).toEqual({ any: true });
  });

  it('parses lists with optional whitespace and empty elements', () => {
    expect(parseEntityTagCondition('"a"')).toEqual({ any: false, tags: [strong('a')] });
    expect(parseEntityTagCondition('"a", W/"b",\t"c"')).toEqual({
      any: false,
      tags: [strong('a'), weak('b'), strong('c')],
    });
    expect(parseEntityTagCondition(', "a" ,, "b",')).toEqual({
      any: false,
      tags: [strong('a'), strong('b')],
    });
  });

  it('keeps commas inside a quoted tag', () => {
    expect(parseEntityTagCondition('"a,b", "c"')).toEqual({ any: false, tags: [strong('a,b'), strong('c')] });
  });

  it('rejects malformed values', () => {
    const bad = [
      '',
      ' ',
      ',',
      ' , ,',
      'a',
      '"a',
      '"a" "b"',
      '"a";"b"',
      '*, "a"',
      '"a", *',
      '**',
      'W/a',
      'w/"a"',
      '"a" x',
    ];
    for (const value of bad) expect(parseEntityTagCondition(value), value).toBeNull();
  });
});

describe('comparison (RFC 9110 section 8.8.3.2 table)', () => {
  it.each([
    [weak('1'), weak('1'), false, true],
    [weak('1'), weak('2'), false, false],
    [weak('1'), strong('1'), false, true],
    [strong('1'), strong('1'), true, true],
  ])('%o vs %o: strong %s, weak %s', (a, b, expectedStrong, expectedWeak) => {
    expect(strongCompare(a, b)).toBe(expectedStrong);
    expect(strongCompare(b, a)).toBe(expectedStrong);
    expect(weakCompare(a, b)).toBe(expectedWeak);
    expect(weakCompare(b, a)).toBe(expectedWeak);
  });
});
