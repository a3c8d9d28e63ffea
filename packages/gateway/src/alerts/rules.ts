import { quantile } from '../calls/histogram.js';
import type { AlertConfig } from '../config/types.js';
import type { WindowTotals } from './window.js';

/** The state of a rule (SPEC 5.4 `GET /alerts`). */
export type AlertState = 'ok' | 'firing';

/** A rule's reading of its window: the metric's value and the calls it was read from. */
export interface Reading {
  /** A fraction for rates, ms for p99, conflicts on one resource for hotspot; null for p99 of no calls. */
  readonly value: number | null;
  readonly samples: number;
  /** For hotspot rules: the resource with most conflicts in the window. */
  readonly resource: string | null;
}

/** Reads the rule's metric from its window (SPEC 5.1 `metric`). */
export function readMetric(metric: AlertConfig['metric'], t: WindowTotals): Reading {
  const samples = t.calls;
  switch (metric) {
    case 'conflict-rate':
      return { value: samples === 0 ? 0 : t.conflicts / samples, samples, resource: null };
    case 'error-rate':
      return { value: samples === 0 ? 0 : t.errors / samples, samples, resource: null };
    case 'p99': {
      const p99 = t.latency ? quantile(t.latency, 0.99) : null;
      return { value: p99 === null ? null : Math.round(p99 * 100) / 100, samples, resource: null };
    }
    case 'hotspot':
      return { value: t.hottest?.conflicts ?? 0, samples, resource: t.hottest?.resource ?? null };
  }
}

/**
 * What a reading does to a rule (SPEC 5.4, 5.6): an `ok` rule fires when its value passes `above`
 * with at least `minSamples` calls in the window; a `firing` rule resolves when its value is no
 * longer above, or when the window holds fewer than `minSamples` calls. Anything else keeps the
 * state, so each episode gives exactly one fire and one resolve.
 */
export function transition(
  state: AlertState,
  reading: Reading,
  rule: Pick<AlertConfig, 'above' | 'minSamples'>,
): 'fire' | 'resolve' | undefined {
  const above = reading.value !== null && reading.value > rule.above;
  const enough = reading.samples >= rule.minSamples;
  if (state === 'ok') return above && enough ? 'fire' : undefined;
  return above && enough ? undefined : 'resolve';
}
