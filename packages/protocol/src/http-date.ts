/**
 * HTTP dates (RFC 9110 section 5.6.7): the preferred IMF-fixdate and the two obsolete formats a
 * recipient must still accept.
 */

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const DAY_NAMES_LONG = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

const DAY = DAY_NAMES.join('|');
const MONTH = MONTHS.join('|');
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

// IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT     Sun, 06 Nov 1994 08:49:37 GMT
// rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT   Sunday, 06-Nov-94 08:49:37 GMT
// asctime-date = day-name SP date3 SP time-of-day SP year        Sun Nov  6 08:49:37 1994
// All literal parts are case-sensitive (%s in the RFC's ABNF).
const IMF_FIXDATE = new RegExp(`^(?:${DAY}), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:${DAY_NAMES_LONG.join('|')}), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^(?:${DAY}) (${MONTH}) ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * Parses an HTTP date in any of the three formats of RFC 9110 section 5.6.7 and returns `null`
 * when the value is not one of them or names a day that does not exist (30 February, 25:00).
 *
 * The day of the week is checked for form but not against the date: a sender's wrong weekday is
 * harmless, and rejecting it would make `If-Unmodified-Since` silently ignored.
 *
 * Two-digit rfc850 years follow the RFC: a year that would lie more than 50 years after `now`
 * means the most recent past year with the same last two digits.
 *
 * @param now - the reference for two-digit years; defaults to the current time.
 */
export function parseHttpDate(value: string, now: Date = new Date()): Date | null {
  let m = IMF_FIXDATE.exec(value);
  if (m !== null) return build(Number(m[3]), m[2], Number(m[1]), m[4], m[5], m[6]);
  m = RFC850_DATE.exec(value);
  if (m !== null) return build(expandYear(Number(m[3]), now), m[2], Number(m[1]), m[4], m[5], m[6]);
  m = ASCTIME_DATE.exec(value);
  // date3 is `month SP ( 2DIGIT / ( SP DIGIT ) )`: the day is " 6" or "06".
  if (m !== null) return build(Number(m[6]), m[1], Number((m[2] ?? '').trim()), m[3], m[4], m[5]);
  return null;
}

/**
 * Formats a date as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only format a sender
 * may generate. Milliseconds are dropped, as HTTP dates have whole-second resolution.
 *
 * @throws RangeError for an invalid `Date` or a year outside 0000 to 9999, which the format cannot
 * express.
 */
export function formatHttpDate(date: Date): string {
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 0 || year > 9999) {
    throw new RangeError('formatHttpDate needs a valid date in the years 0000 to 9999');
  }
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return (
    `${DAY_NAMES[date.getUTCDay()] ?? ''}, ${pad(date.getUTCDate())} ${MONTHS[date.getUTCMonth()] ?? ''} ` +
    `${pad(year, 4)} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} GMT`
  );
}

function expandYear(twoDigits: number, now: Date): number {
  const current = now.getUTCFullYear();
  let year = current - (current % 100) + twoDigits;
  // RFC 9110 section 5.6.7: "more than 50 years in the future" means the previous century; the
  // symmetric step forward keeps the window at 100 years when `now` is late in a century.
  if (year > current + 50) year -= 100;
  else if (year <= current - 50) year += 100;
  return year;
}

function build(
  year: number,
  monthName: string | undefined,
  day: number,
  hh: string | undefined,
  mm: string | undefined,
  ss: string | undefined,
): Date | null {
  const month = MONTHS.indexOf(monthName as (typeof MONTHS)[number]);
  const hour = Number(hh);
  const minute = Number(mm);
  let second = Number(ss);
  // A leap second (:60, allowed by RFC 5322 which IMF-fixdate derives from) cannot be represented
  // by Date; reading it as :59 keeps it within the same minute instead of rolling over.
  if (second === 60) second = 59;
  if (month < 0 || hour > 23 || minute > 59 || second > 59 || day < 1) return null;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not move years 0 to 99 into the 1900s.
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hour, minute, second, 0);
  // Date rolls 31 April over into 1 May; a roll-over means the day does not exist.
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day) return null;
  return date;
}
