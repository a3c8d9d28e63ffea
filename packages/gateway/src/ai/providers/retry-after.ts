/**
 * When a provider says to come back: `Retry-After` (seconds or an HTTP date) and the providers' own
 * rate-limit reset headers, as whole seconds for the gateway's `retryAfter`.
 */

/** Seconds to wait from a `Retry-After` value (delta-seconds or an HTTP date); undefined when unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text));
  return untilDate(text, now);
}

/** Seconds until an absolute time (an HTTP date or RFC 3339), never negative; undefined when unreadable. */
export function untilDate(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const at = Date.parse(value.trim());
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

const UNIT_MS: Readonly<Record<string, number>> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 1e-6,
};

/**
 * Seconds from a Go-style duration as OpenAI's `x-ratelimit-reset-*` headers send them (`1s`, `6m0s`,
 * `20ms`, `1h2m3.5s`), rounded up so a client never comes back too early; undefined when unreadable.
 */
export function parseDuration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  // `ms` before `m` and `s`, or `20ms` would read as 20 minutes and a stray `s`.
  const part = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/y;
  let ms = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    if (match === null) return undefined;
    ms += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
    at = part.lastIndex;
  }
  return Math.ceil(ms / 1000);
}

/** Seconds from a milliseconds count (`retry-after-ms`); undefined when unreadable. */
export function parseMilliseconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  return Math.ceil(Number(value) / 1000);
}
