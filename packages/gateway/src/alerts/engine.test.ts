import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../calls/record.js';
import type { AlertConfig } from '../config/types.js';
import { AlertEngine } from './engine.js';
import { retryDelay, DEFAULT_WEBHOOK_POLICY } from './retry-policy.js';
import { MAX_KEYS_PER_BUCKET, SlidingWindow } from './window.js';

// The rules' arithmetic over synthetic records and an explicit clock; alerts.test.ts drives the same
// engine through real sockets.

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);

function call(at: number, status: number, extra: Partial<CallRecord> = {}): CallRecord {
  return {
    time: at,
    durationMs: 0,
    route: 'shop',
    status,
    resource: null,
    ...extra,
  } as CallRecord;
}

function rule(extra: Partial<AlertConfig>): AlertConfig {
  return {
    name: 'r',
    metric: 'conflict-rate',
    route: undefined,
    windowMs: 10_000,
    minSamples: 10,
    above: 0.5,
    webhook: undefined,
    ...extra,
  };
}

describe('alert rules', () => {
  it('conflict-rate counts 409, 412, 423 and 428 only, over the named route or every route', () => {
    const engine = new AlertEngine([rule({ name: 'all' }), rule({ name: 'other', route: 'other' })]);
    for (const status of [409, 412, 423, 428, 400, 404, 500, 200]) engine.push(call(T0, status));
    engine.push(call(T0, 412, { route: null })); // no route matched: part of no route's traffic
    engine.evaluate(T0);
    const [all, other] = engine.statuses();
    expect(all).toMatchObject({ value: 0.5, samples: 8, state: 'ok' });
    expect(other).toMatchObject({ value: 0, samples: 0 });
  });

  it('fires once, stays firing, and resolves when the window holds fewer than minSamples', () => {
    const engine = new AlertEngine([rule({ minSamples: 4 })]);
    for (let i = 0; i < 4; i++) engine.push(call(T0, 409));
    expect(engine.evaluate(T0).map((e) => e.event.event)).toEqual(['fire']);
    expect(engine.evaluate(T0 + 1_000)).toEqual([]);
    // Ten seconds later the window is empty: the rule resolves with no samples.
    const [resolved] = engine.evaluate(T0 + 10_000);
    expect(resolved!.event).toMatchObject({ event: 'resolve', samples: 0, value: 0 });
    expect(engine.evaluate(T0 + 11_000)).toEqual([]);
    expect(engine.events().map((e) => e.id)).toEqual([1, 2]);
  });

  it('error-rate counts statuses of 500 and above', () => {
    const engine = new AlertEngine([rule({ metric: 'error-rate', minSamples: 1, above: 0.4 })]);
    for (const status of [500, 502, 504, 200, 499]) engine.push(call(T0, status));
    const [fired] = engine.evaluate(T0);
    expect(fired!.event).toMatchObject({ event: 'fire', metric: 'error-rate', value: 0.6, samples: 5 });
  });

  it('p99 reads the merged latency histogram of the window, within 5%', () => {
    const engine = new AlertEngine([rule({ metric: 'p99', minSamples: 100, above: 500 })]);
    for (let i = 1; i <= 1_000; i++) engine.push(call(T0 + (i % 5) * 1_000, 200, { durationMs: i }));
    const [fired] = engine.evaluate(T0 + 5_000);
    expect(fired!.event.samples).toBe(1_000);
    expect(fired!.event.value).toBeGreaterThan(990 * 0.95);
    expect(fired!.event.value).toBeLessThan(990 * 1.05);
    expect(new AlertEngine([rule({ metric: 'p99' })]).statuses()[0]!.value).toBeNull();
  });

  it('hotspot is the most conflicts on one resource within the window, and names it', () => {
    const engine = new AlertEngine([rule({ metric: 'hotspot', minSamples: 1, above: 5 })]);
    for (let i = 0; i < 6; i++) engine.push(call(T0 + i * 1_000, 412, { resource: '/products/anvil' }));
    for (let i = 0; i < 4; i++) engine.push(call(T0, 409, { resource: '/products/saw' }));
    engine.push(call(T0, 200, { resource: '/products/anvil' }));
    const [fired] = engine.evaluate(T0 + 6_000);
    expect(fired!.event).toMatchObject({ value: 6, resource: '/products/anvil', samples: 11 });
  });

  it('keeps memory bounded: one bucket per second, a capped set of keys per bucket', () => {
    const w = new SlidingWindow(5_000, { latency: false, hotspots: true });
    for (let i = 0; i < 2 * MAX_KEYS_PER_BUCKET; i++)
      w.add({ status: 409, durationMs: 1, resource: `/k/${i}` }, T0);
    for (let i = 0; i < 3; i++) w.add({ status: 409, durationMs: 1, resource: '/k/0' }, T0);
    const t = w.totals(T0);
    expect(t).toMatchObject({ calls: 2_003, conflicts: 2_003, hottest: { resource: '/k/0', conflicts: 4 } });
    // A record older than the window does not come back to life in a reused bucket.
    w.add({ status: 409, durationMs: 1, resource: null }, T0 + 5_000);
    w.add({ status: 409, durationMs: 1, resource: null }, T0);
    expect(w.totals(T0 + 5_000).calls).toBe(1);
    expect(new SlidingWindow(7 * 86_400_000, { latency: false, hotspots: false }).bucketMs).toBe(168_000);
  });

  it('webhook retries wait longer each time, up to the cap', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelay(DEFAULT_WEBHOOK_POLICY, n));
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    expect(retryDelay(DEFAULT_WEBHOOK_POLICY, 1, 10_000)).toBe(10_000);
    expect(retryDelay(DEFAULT_WEBHOOK_POLICY, 1, 3_600_000)).toBe(60_000);
  });
});
