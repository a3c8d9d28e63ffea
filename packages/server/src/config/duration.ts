/**
 * Durations in the configuration: a number of seconds (`30`, `0.5`) or a number with a unit
 * (`500ms`, `30s`, `2m`), the way the gateway's timeouts are written (SPEC 5.6).
 */
export type DurationInput = number | string;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000 };

/** Milliseconds of a configured duration, or undefined when it is not one. */
export function durationMs(value: DurationInput): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}
