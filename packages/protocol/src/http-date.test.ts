import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatHttpDate, parseHttpDate } from './http-date.js';

const nov6 = Date.UTC(1994, 10, 6, 8, 49, 37);

describe('parseHttpDate', () => {
  it('reads the three formats of RFC 9110 section 5.6.7', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')?.getTime()).toBe(nov6);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')?.getTime()).toBe(nov6);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')?.getTime()).toBe(nov6);
    expect(parseHttpDate('Sun Nov 16 08:49:37 1994')?.getTime()).toBe(Date.UTC(1994, 10, 16, 8, 49, 37));
  });

  it('reads years below 100 literally in IMF-fixdate', () => {
    expect(parseHttpDate('Sat, 01 Jan 0050 00:00:00 GMT')?.getUTCFullYear()).toBe(50);
  });

  it('places two-digit years no more than 50 years into the future', () => {
    const now = new Date(Date.UTC(2025, 5, 1));
    const year = (yy: string): number | undefined =>
      parseHttpDate(`Monday, 01-Jan-${yy} 00:00:00 GMT`, now)?.getUTCFullYear();
    expect(year('25')).toBe(2025);
    expect(year('75')).toBe(2075);
    expect(year('76')).toBe(1976);
    expect(year('94')).toBe(1994);
    expect(year('00')).toBe(2000);
    // Late in a century the window reaches into the next one.
    expect(
      parseHttpDate('Monday, 01-Jan-05 00:00:00 GMT', new Date(Date.UTC(2090, 0, 1)))?.getUTCFullYear(),
    ).toBe(2105);
  });

  it('reads a leap second as the last second of the minute', () => {
    expect(parseHttpDate('Wed, 31 Dec 2008 23:59:60 GMT')?.getTime()).toBe(
      Date.UTC(2008, 11, 31, 23, 59, 59),
    );
  });

  it('does not check the weekday against the date', () => {
    expect(parseHttpDate('Mon, 06 Nov 1994 08:49:37 GMT')?.getTime()).toBe(nov6);
  });

  it('returns null for anything else', () => {
    const bad = [
      '',
      'yesterday',
      '1994-11-06T08:49:37Z',
      'sun, 06 Nov 1994 08:49:37 GMT',
      'Sun, 06 nov 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 08:49:37 gmt',
      'Sun, 06 Nov 1994 08:49:37 UTC',
      'Sun, 06 Nov 1994 08:49:37 +0000',
      'Sun, 6 Nov 1994 08:49:37 GMT',
      'Sun,  06 Nov 1994 08:49:37 GMT',
      ' Sun, 06 Nov 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 08:49:37 GMT ',
      'Sun, 06 Nov 94 08:49:37 GMT',
      'Sun, 31 Nov 1994 08:49:37 GMT',
      'Sun, 29 Feb 1900 08:49:37 GMT',
      'Sun, 00 Nov 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:60:00 GMT',
      'Sun, 06 Nov 1994 08:49:61 GMT',
      'Sun, 06 Nov 1994 8:49:37 GMT',
      'Sun, 06-Nov-94 08:49:37 GMT',
      'Sunday, 06-Nov-1994 08:49:37 GMT',
      'Sun Nov 6 08:49:37 1994',
      'Sun Nov 06 08:49:37 94',
      'Xyz, 06 Nov 1994 08:49:37 GMT',
    ];
    for (const value of bad) expect(parseHttpDate(value), value).toBeNull();
  });

  it('accepts 29 February in leap years', () => {
    expect(parseHttpDate('Tue, 29 Feb 2000 00:00:00 GMT')?.getTime()).toBe(Date.UTC(2000, 1, 29));
  });
});

describe('formatHttpDate', () => {
  it('writes IMF-fixdate and drops milliseconds', () => {
    expect(formatHttpDate(new Date(nov6 + 999))).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
    expect(formatHttpDate(new Date(Date.UTC(2000, 0, 1)))).toBe('Sat, 01 Jan 2000 00:00:00 GMT');
  });

  it('pads the year to four digits', () => {
    const date = new Date(0);
    date.setUTCFullYear(50, 0, 1);
    expect(formatHttpDate(date)).toBe('Sat, 01 Jan 0050 00:00:00 GMT');
  });

  it('refuses dates it cannot express', () => {
    expect(() => formatHttpDate(new Date(NaN))).toThrow(RangeError);
    expect(() => formatHttpDate(new Date(Date.UTC(10000, 0, 1)))).toThrow(RangeError);
    expect(() => formatHttpDate(new Date(Date.UTC(-1, 0, 1)))).toThrow(RangeError);
  });

  it('round-trips with parseHttpDate at whole-second resolution', () => {
    const dates = fc.date({
      min: new Date('0000-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59.999Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(dates, (date) => {
        const text = formatHttpDate(date);
        expect(parseHttpDate(text)?.getTime()).toBe(Math.floor(date.getTime() / 1000) * 1000);
      }),
    );
  });
});
