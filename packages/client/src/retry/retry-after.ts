/**
 * The `Retry-After` response header (RFC 9110 section 10.2.3): `delay-seconds` or an HTTP-date.
 */
import { parseHttpDate } from '@truce/protocol';

/**
 * The wait `Retry-After` asks for, in milliseconds, or `undefined` when the header is absent or
 * malformed (then the caller's own backoff applies).
 *
 * An HTTP-date is measured from the answer's own `Date` header when it has one, so that a client
 * whose clock is off still waits as long as the server meant; without it, from `now`. A date in
 * the past means no wait.
 */
export function retryAfterMs(value: string | null, date: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  // delay-seconds = 1*DIGIT
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = parseHttpDate(text);
  if (at === null) return undefined;
  const sent = date === null ? null : parseHttpDate(date.trim());
  const from = sent === null ? now : sent.getTime();
  return Math.max(0, at.getTime() - from);
}
