/**
 * Durations and sizes as the gateway configuration writes them (SPEC 5.1, 5.6): `500ms`, `30s`,
 * `5m`, `1h`, `7d`; `512b`, `4kb`, `1mb`, `1gb` (binary: 1kb = 1,024 bytes). A size may also be a
 * plain number of bytes (`bodies: 0` keeps no body).
 */

const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/;
const DURATION_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const SIZE = /^([0-9]+(?:\.[0-9]+)?)(b|kb|mb|gb)$/i;
const SIZE_BYTES = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;

/** Milliseconds of a duration such as `30s`, or undefined when it is not one. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * DURATION_MS[match[2] as keyof typeof DURATION_MS];
  return Number.isSafeInteger(Math.round(ms)) ? Math.round(ms) : undefined;
}

/** Bytes of a size such as `4kb` (or a plain non-negative integer), or undefined when it is not one. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  const bytes = Math.floor(Number(match[1]) * SIZE_BYTES[match[2]!.toLowerCase() as keyof typeof SIZE_BYTES]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * A point in time from a lifecycle date: ISO 8601, where a bare date means 00:00 UTC that day;
 * YAML may already have turned it into a Date.
 */
export function parseInstant(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  const bare = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const full = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  if (!bare && !full) return undefined;
  const ms = Date.parse(bare ? `${text}T00:00:00Z` : text);
  return Number.isNaN(ms) ? undefined : ms;
}
