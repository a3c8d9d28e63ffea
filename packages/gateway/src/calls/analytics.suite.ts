import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { lifecycle } from '../analytics/lifecycle.js';
import { unconditional } from '../analytics/key-reports.js';
import { writeCounts } from '../analytics/overlap.js';
import { registerAnalyticsRoutes } from '../analytics/routes.js';
import { series, summary } from '../analytics/reports.js';
import { createProblem } from '@truce/protocol';
import { resolveGatewayConfig } from '../config/load.js';
import { GatewayProblem } from '../problems/answer.js';
import { type CallLogFixture, callRecord, logConfig } from './conformance.suite.js';
import type { CallLog } from './log.js';
import { HOUR, HOUR_TOP_K, MINUTE_TOP_K, readKeys, rollUpStep, type Script } from './key-rollups.js';
import type { AiCallInfo, CallRecord } from './record.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 2, 9, 0, 0);

/**
 * What analytics needs of every {@link CallLog} adapter (SPEC 5.3, 5.4), written once and run on
 * each: `summary` and `series` agree with each other and with the raw calls, from raw calls and from
 * roll-ups; hotspots by resource, route and consumer; the retry and stale-by links the writer adds;
 * the unconditional-writes and retries reports; the lifecycle report from its per-consumer roll-ups.
 */
export function analyticsConformance(name: string, fixture: () => Promise<CallLogFixture>): void {
  describe(`call log analytics: ${name}`, () => {
    const opened: CallLog[] = [];
    let current: CallLogFixture | undefined;
    afterEach(async () => {
      for (const log of opened.splice(0)) await log.close();
      await current?.dispose();
      current = undefined;
    });
    const open = async () => {
      current ??= await fixture();
      const log = await current.open(logConfig(), () => T0 + 10 * MINUTE);
      opened.push(log);
      return log;
    };
    const write = async (log: CallLog, records: CallRecord[]) => {
      for (const r of records) log.push(r);
      await log.flush();
    };
    /** The analytics routes over `log`, asked through Fastify's `inject` at the time `now()`. */
    const admin = (log: CallLog, now: () => number) => {
      const app = Fastify({ logger: false });
      registerAnalyticsRoutes(app, log, [], now);
      return async (path: string) => {
        const res = await app.inject({ method: 'GET', url: path });
        expect(res.statusCode, res.body).toBe(200);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read loosely
        return res.json<Record<string, any>>();
      };
    };

    it('summary and series agree with each other and with the raw calls, raw and rolled up', async () => {
      const log = await open();
      const statuses = [200, 200, 201, 204, 409, 412, 423, 428, 500, 503, 404, 200];
      const records = Array.from({ length: 240 }, (_, i) =>
        callRecord({
          time: T0 + i * 1_500, // 6 minutes
          route: i % 3 === 0 ? 'orders' : 'shop',
          status: statuses[i % statuses.length]!,
          code: statuses[i % statuses.length] === 412 ? 'stale-write' : null,
          durationMs: 1 + (i % 100),
        }),
      );
      await write(log, records);
      const raw = (route?: string) => records.filter((r) => route === undefined || r.route === route);
      for (const route of [undefined, 'shop']) {
        const expected = raw(route);
        const conflicts = expected.filter((r) => [409, 412, 423, 428].includes(r.status)).length;
        const errors = expected.filter((r) => r.status >= 500).length;
        // One window from raw calls (an hour at most), one past an hour from the roll-ups.
        for (const [since, until] of [
          [T0, T0 + 6 * MINUTE],
          [T0 - 2 * 3_600_000, T0 + 6 * MINUTE],
        ] as const) {
          const s = await summary(log, { route, since, until });
          expect(s).toMatchObject({ calls: expected.length, conflicts, errors });
          expect(s.conflictRate).toBeCloseTo(conflicts / expected.length);
          expect(s.byStatus['412']).toBe(expected.filter((r) => r.status === 412).length);
          expect(s.byCode).toEqual({ 'stale-write': expected.filter((r) => r.status === 412).length });
          const { items } = await series(log, { route, since, until }, MINUTE);
          expect(items.map((i) => i.time)).toEqual([...items.map((i) => i.time)].sort());
          const sum = (k: 'calls' | 'errors' | 'conflicts') => items.reduce((n, i) => n + i[k], 0);
          expect([sum('calls'), sum('errors'), sum('conflicts')]).toEqual([s.calls, s.errors, s.conflicts]);
          const minute = items.find((i) => i.time === new Date(T0 + MINUTE).toISOString())!;
          expect(minute.calls).toBe(
            expected.filter((r) => r.time >= T0 + MINUTE && r.time < T0 + 2 * MINUTE).length,
          );
        }
      }
      // Raw percentiles are exact (nearest rank); the roll-ups' are within ±5%.
      const exact = await summary(log, { since: T0, until: T0 + 6 * MINUTE });
      const sorted = records.map((r) => r.durationMs).sort((a, b) => a - b);
      expect(exact.p50).toBe(sorted[Math.ceil(0.5 * sorted.length) - 1]);
      expect(exact.p99).toBe(sorted[Math.ceil(0.99 * sorted.length) - 1]);
      const rolled = await summary(log, { since: T0 - 2 * 3_600_000, until: T0 + 6 * MINUTE });
      expect(Math.abs(rolled.p99! - exact.p99!) / exact.p99!).toBeLessThanOrEqual(0.05);
      // Each raw bucket's percentiles are its own calls' nearest ranks, taken in the store.
      const { items } = await series(log, { route: 'shop', since: T0, until: T0 + 6 * MINUTE }, MINUTE);
      for (const item of items) {
        const at = Date.parse(item.time);
        const own = records
          .filter((r) => r.route === 'shop' && r.time >= at && r.time < at + MINUTE)
          .map((r) => r.durationMs)
          .sort((a, b) => a - b);
        const rank = (q: number) => own[Math.ceil(q * own.length) - 1];
        expect([item.p50, item.p95, item.p99]).toEqual([rank(0.5), rank(0.95), rank(0.99)]);
      }
    });

    it('reads whole hours from the hourly roll-ups, minutes at the edges, as the raw calls count them', async () => {
      const log = await open();
      // 3.5 hours from 07:40, one call every 20 s, on two routes; durations spread 1 to 300 ms.
      const from = T0 - 80 * MINUTE;
      const records = Array.from({ length: 630 }, (_, i) =>
        callRecord({
          time: from + i * 20_000,
          route: i % 4 === 0 ? 'orders' : 'shop',
          status: i % 10 === 0 ? 412 : i % 25 === 0 ? 500 : 200,
          code: i % 10 === 0 ? 'stale-write' : null,
          durationMs: 1 + ((i * 37) % 300),
        }),
      );
      await write(log, records);
      // The hourly rows hold what the minutes hold.
      const hours = await log.rollups('shop', T0 - 2 * HOUR, T0 + 2 * HOUR, { span: 'hour' });
      expect(hours.map((h) => h.minute)).toEqual([T0 - 2 * HOUR, T0 - HOUR, T0, T0 + HOUR]);
      for (const h of hours) {
        const minutes = await log.rollups('shop', h.minute, h.minute + HOUR);
        expect(h.calls).toBe(minutes.reduce((n, m) => n + m.calls, 0));
        const latency: Record<string, number> = {};
        for (const m of minutes)
          for (const [k, v] of Object.entries(m.latency)) latency[k] = (latency[k] ?? 0) + v;
        expect(Object.fromEntries(Object.entries(h.latency).map(([k, v]) => [k, Number(v)]))).toEqual(
          latency,
        );
      }
      const count = (since: number, until: number, route?: string) =>
        records.filter(
          (r) =>
            r.time >= Math.floor(since / MINUTE) * MINUTE &&
            r.time < Math.ceil(until / MINUTE) * MINUTE &&
            (route === undefined || r.route === route),
        );
      // Windows past an hour, aligned and not, on every route and on one.
      for (const route of [undefined, 'orders'])
        for (const [since, until] of [
          [T0 - 2 * HOUR, T0 + 2 * HOUR],
          [from + 5 * MINUTE + 7_000, from + 200 * MINUTE + 30_000],
          [T0 - 23 * HOUR, T0 + HOUR],
        ] as const) {
          const expected = count(since, until, route);
          const s = await summary(log, { route, since, until });
          expect(s).toMatchObject({
            calls: expected.length,
            conflicts: expected.filter((r) => r.status === 412).length,
            errors: expected.filter((r) => r.status >= 500).length,
          });
          expect(s.byCode).toEqual({ 'stale-write': expected.filter((r) => r.status === 412).length });
          const sorted = expected.map((r) => r.durationMs).sort((a, b) => a - b);
          const p95 = sorted[Math.ceil(0.95 * sorted.length) - 1]!;
          expect(Math.abs(s.p95! - p95) / p95).toBeLessThanOrEqual(0.05);
          for (const step of [HOUR, 2 * HOUR, MINUTE]) {
            const { items } = await series(log, { route, since, until }, step);
            for (const item of items) {
              const at = Date.parse(item.time);
              const own = count(Math.max(at, since), Math.min(at + step, until), route);
              expect(item.calls, `${item.time} step ${step}`).toBe(own.length);
              expect(item.conflicts).toBe(own.filter((r) => r.status === 412).length);
            }
          }
        }
    });

    it('summary and series agree at any step when the window starts before the first call, or retention took its start', async () => {
      const log = await open();
      // A young log: its first call comes 30 s into the window's first minute.
      const records = Array.from({ length: 60 }, (_, i) =>
        callRecord({ time: T0 + 30_000 + i * 1_000, status: i % 4 === 0 ? 412 : 200, durationMs: 1 + i }),
      );
      await write(log, records);
      const w = { since: T0 + 10_000, until: T0 + 3 * MINUTE };
      const check = async (expected: number) => {
        const s = await summary(log, w);
        expect(s.calls).toBe(expected);
        for (const step of [10_000, MINUTE, 90_000]) {
          const { items } = await series(log, w, step);
          expect([step, items.reduce((n, i) => n + i.calls, 0)]).toEqual([step, expected]);
          expect(items.reduce((n, i) => n + i.conflicts, 0)).toBe(s.conflicts);
        }
        return s;
      };
      // Every call of the window is kept: the raw calls are read, and percentiles are exact.
      const exact = await check(60);
      const sorted = records.map((r) => r.durationMs).sort((a, b) => a - b);
      expect(exact.p99).toBe(sorted[Math.ceil(0.99 * sorted.length) - 1]);
      const steps = (await series(log, w, 10_000)).items;
      expect(steps.find((i) => i.time === new Date(T0 + 30_000).toISOString())?.calls).toBe(10);

      // Retention by count takes the first 20: the roll-ups still count all 60.
      const trimmed = await current!.open(logConfig({ maxCalls: 40 }), () => T0 + 10 * MINUTE);
      opened.push(trimmed);
      await trimmed.enforceRetention();
      expect(await log.count()).toBe(40);
      await check(60);
    });

    it('ranks hotspots by resource, route and consumer, with codes, calls and the last conflict', async () => {
      const log = await open();
      const r = (over: Partial<CallRecord>) => callRecord({ time: T0, ...over });
      await write(log, [
        r({ resource: '/products/a', status: 412, code: 'stale-write', consumer: 'bob', time: T0 + 1 }),
        r({ resource: '/products/a', status: 412, code: 'stale-write', consumer: 'bob', time: T0 + 2 }),
        r({ resource: '/products/a', status: 409, code: null, consumer: 'carol', time: T0 + 3 }),
        r({ resource: '/products/a', status: 200 }),
        r({ resource: '/products/b', status: 428, code: 'precondition-required', route: 'orders' }),
        r({ resource: '/products/b', status: 200, route: 'orders' }),
        r({ resource: '/products/c', status: 200 }),
      ]);
      const window = [T0, T0 + MINUTE] as const;
      expect(await log.analytics.hotspots('resource', ...window, 10)).toEqual([
        {
          key: '/products/a',
          conflicts: 3,
          calls: 4,
          byCode: { 'stale-write': 2, '409': 1 },
          lastAt: T0 + 3,
        },
        { key: '/products/b', conflicts: 1, calls: 2, byCode: { 'precondition-required': 1 }, lastAt: T0 },
      ]);
      expect(
        (await log.analytics.hotspots('route', ...window, 10)).map((h) => [h.key, h.conflicts, h.calls]),
      ).toEqual([
        ['shop', 3, 5],
        ['orders', 1, 2],
      ]);
      expect((await log.analytics.hotspots('consumer', ...window, 1)).map((h) => h.key)).toEqual(['bob']);
      expect(await log.analytics.hotspots('resource', T0 + MINUTE, T0 + 2 * MINUTE, 10)).toEqual([]);
    });

    it('rolls up in small steps: one dimension of a minute or hour per step, pruning one period per step', async () => {
      const log = await open();
      await write(log, [
        callRecord({
          time: T0,
          resource: '/products/a',
          consumer: 'alice',
          status: 412,
          code: 'stale-write',
        }),
        callRecord({ time: T0 + 1_000, resource: '/products/b', consumer: 'bob', route: 'orders' }),
      ]);
      const now = T0 + 10 * MINUTE;
      // One step at a time, as the driver runs each in a transaction of its own.
      const step = () => log.keys.read(rollUpStep(now, logConfig().retention.rollupsMs));
      function* bounds(span: number, start: number): Script<string[]> {
        const rows = yield {
          sql: 'SELECT dim FROM {s}key_rollup_bounds WHERE span = ? AND start = ? ORDER BY dim',
          args: [span, start],
        };
        return rows.map((r) => String(r['dim']));
      }
      const cut: string[][] = [];
      for (let i = 0; i < 3; i++) {
        expect(await step()).toBe(true);
        cut.push(await log.keys.read(bounds(MINUTE, T0)));
      }
      expect(cut).toEqual([['resource'], ['resource', 'route'], ['consumer', 'resource', 'route']]);
      expect((await log.keys.state())?.rolledTo).toBe(T0);
      expect(await step()).toBe(true);
      expect((await log.keys.state())?.rolledTo).toBe(T0 + MINUTE);
      // Past that: overlaps (none), then the hour 09:00 is not finished; nothing to prune.
      for (let i = 0; i < 10 && (await step()); i++);
      expect(await step()).toBe(false);
      expect(await log.keys.read(bounds(HOUR, T0))).toEqual([]);

      // Six hours on, the hour is compacted one dimension per step, then its minutes are pruned,
      // one dimension's minute per step.
      const later = T0 + 6 * HOUR;
      const stepLater = () => log.keys.read(rollUpStep(later, logConfig().retention.rollupsMs));
      const compacted: string[][] = [];
      for (let i = 0; i < 40 && compacted.length < 3; i++) {
        expect(await stepLater()).toBe(true);
        const now = await log.keys.read(bounds(HOUR, T0));
        if (now.length > (compacted.at(-1)?.length ?? 0)) compacted.push(now);
      }
      expect(compacted).toEqual([['resource'], ['resource', 'route'], ['consumer', 'resource', 'route']]);
      const pruned: string[][] = [];
      for (let i = 0; i < 10 && (await stepLater()); i++)
        pruned.push(await log.keys.read(bounds(MINUTE, T0)));
      expect(pruned.slice(-4)).toEqual([
        ['consumer', 'resource', 'route'],
        ['consumer', 'route'],
        ['consumer'],
        [],
      ]);
      const hotspots = await log.keys.read(
        readKeys('resource', T0 - HOUR, later, (await log.keys.state())!, later),
      );
      expect([...hotspots.keys.keys()].sort()).toEqual(['/products/a', '/products/b']);
    });

    it('links retries (early, blind) and conflicts to the write that made them stale', async () => {
      const log = await open();
      const body = { data: Buffer.from('{"n":1}'), truncated: false, contentType: 'application/json' };
      const put = (over: Partial<CallRecord>) =>
        callRecord({ method: 'PUT', requestBody: body, bodyHash: 'h1', conditional: true, ...over });
      const win = put({ consumer: 'alice', status: 200, time: T0 });
      const lost = put({ consumer: 'bob', status: 412, code: 'stale-write', time: T0 + 1_000 });
      const blind = put({ consumer: 'bob', status: 412, code: 'stale-write', time: T0 + 2_000 });
      const limited = callRecord({ consumer: 'carol', status: 429, retryAfter: 5, time: T0, durationMs: 1 });
      const early = callRecord({ consumer: 'carol', status: 429, retryAfter: 5, time: T0 + 1_000 });
      const patient = callRecord({ consumer: 'carol', status: 200, time: T0 + 20_000 });
      const poll = callRecord({ consumer: 'carol', status: 200, time: T0 + 21_000 });
      await write(log, [win, lost, blind, limited, early, patient, poll]);
      const shown = async (r: CallRecord) => (await log.get(r.id))!;
      expect(await shown(lost)).toMatchObject({
        retryOf: null,
        early: false,
        staleBy: { id: win.id, consumer: 'alice', time: new Date(T0).toISOString() },
      });
      expect(await shown(blind)).toMatchObject({ retryOf: lost.id, staleBy: { id: win.id } });
      expect(await shown(early)).toMatchObject({ retryOf: limited.id, early: true });
      expect(await shown(patient)).toMatchObject({ retryOf: early.id, early: false });
      expect(await shown(poll)).toMatchObject({ retryOf: null });
      expect(await shown(win)).not.toHaveProperty('staleBy');
      expect(await log.analytics.retries(T0, T0 + MINUTE)).toEqual(
        expect.arrayContaining([
          { consumer: 'bob', retries: 1, early: 0, blind: 1 },
          { consumer: 'carol', retries: 2, early: 1, blind: 0 },
        ]),
      );

      // A writer that did not see the winning write (another process, or past its horizon) still
      // shows the link: it is looked up when the call is shown.
      const other = await current!.open(logConfig());
      opened.push(other);
      const late = put({ consumer: 'dave', status: 409, time: T0 + 3_000 });
      await write(other, [late]);
      expect(await shown(late)).toMatchObject({ staleBy: { id: win.id, consumer: 'alice' } });
    });

    it('answers hotspots, unconditional and retries from key roll-ups once the raw calls are gone, as the raw calls did', async () => {
      current ??= await fixture();
      let now = T0;
      const log = await current.open(logConfig(), () => now);
      opened.push(log);
      // 2 h 10 min of traffic: skewed resources, three consumers (one anonymous), two routes, conflicts
      // with and without a code, unconditional writes near each other, and retries (same body hash).
      const statuses = [200, 200, 412, 200, 409, 200, 428, 204, 200, 423, 500, 200];
      const consumers = ['alice', 'bob', null] as const;
      const records = Array.from({ length: 1_300 }, (_, i) => {
        const status = statuses[i % statuses.length]!;
        return callRecord({
          time: T0 + i * 6_000 + (i % 7),
          route: i % 4 === 0 ? 'orders' : 'shop',
          consumer: consumers[i % 3]!,
          resource: `/products/p${(i * i) % 13 < 6 ? 1 : (i % 9) + 2}`,
          method: i % 2 === 0 ? 'PUT' : 'GET',
          conditional: i % 5 < 2,
          status,
          code: status === 412 ? 'stale-write' : status === 428 ? 'precondition-required' : null,
          bodyHash: `h${i % 3}`,
          path: `/shop/products/p${i % 3}`,
        });
      });
      await write(log, records);
      const end = T0 + 1_300 * 6_000;
      const day = `since=${new Date(T0 - 22 * HOUR).toISOString()}&until=${new Date(end).toISOString()}`;

      // What the raw calls say, before any roll-up.
      const raw = {
        resource: await log.analytics.hotspots('resource', T0, end, 50),
        route: await log.analytics.hotspots('route', T0, end, 50),
        consumer: await log.analytics.hotspots('consumer', T0, end, 50),
        retries: await log.analytics.retries(T0, end),
        writes: writeCounts(await log.analytics.writes(T0 - MINUTE, end + MINUTE), T0, end),
      };
      expect(raw.resource.length).toBeGreaterThan(5);
      expect(raw.retries.length).toBeGreaterThan(0);
      expect(raw.writes.some((w) => w.overlapping > 0)).toBe(true);

      const expectRaw = async (ask: ReturnType<typeof admin>) => {
        for (const by of ['resource', 'route', 'consumer'] as const) {
          const found = await ask(`/analytics/hotspots?by=${by}&limit=50&${day}`);
          expect(found).not.toHaveProperty('error');
          expect(found['items']).toEqual(
            raw[by].map((h) => ({ ...h, lastAt: new Date(h.lastAt).toISOString() })),
          );
        }
        const retries = await ask(`/analytics/retries?${day}`);
        expect(retries['items']).toEqual(expect.arrayContaining(raw.retries));
        expect(retries['items']).toHaveLength(raw.retries.length);
        const writes = await ask(`/analytics/unconditional?${day}`);
        expect(writes['items']).toEqual(expect.arrayContaining(raw.writes));
        expect(writes['items']).toHaveLength(raw.writes.length);
      };

      // Mid-way: the first hour compacted, minutes after it cut to their top-K, the newest minutes
      // whole and their overlaps still raw; the sums are what the raw calls say.
      now = T0 + 90 * MINUTE + 20_000;
      const mid = T0 + 90 * MINUTE;
      await log.enforceRetention();
      expect(await log.keys.state()).toEqual({
        rolledTo: T0 + 89 * MINUTE,
        overlapTo: T0 + 88 * MINUTE,
        compactedTo: T0 + HOUR,
      });
      const ask = admin(log, () => now);
      const upTo = `since=${new Date(T0 - 2 * HOUR).toISOString()}&until=${new Date(mid).toISOString()}`;
      for (const by of ['resource', 'route', 'consumer'] as const)
        expect((await ask(`/analytics/hotspots?by=${by}&${upTo}`))['items']).toEqual(
          (await log.analytics.hotspots(by, T0, mid, 50)).map((h) => ({
            ...h,
            lastAt: new Date(h.lastAt).toISOString(),
          })),
        );
      expect((await ask(`/analytics/unconditional?${upTo}`))['items']).toEqual(
        expect.arrayContaining(writeCounts(await log.analytics.writes(T0 - MINUTE, mid + MINUTE), T0, mid)),
      );

      // An hour after the traffic every hour is compacted.
      now = end + HOUR;
      await log.enforceRetention();
      expect(await log.keys.state()).toMatchObject({ compactedTo: T0 + 3 * HOUR });
      await expectRaw(ask);

      // Another gateway on the same store with a minute of raw retention deletes every raw call; the
      // reports answer the same from the roll-ups alone.
      now = end + HOUR;
      const short = await current.open(logConfig({ callsMs: MINUTE }), () => now);
      opened.push(short);
      await short.enforceRetention();
      expect(await log.count()).toBe(0);
      await expectRaw(ask);
      await expectRaw(admin(short, () => now));
    });

    it('keeps the top keys of a skewed workload within the stated error bound', async () => {
      current ??= await fixture();
      let now = T0;
      const log = await current.open(logConfig(), () => now);
      opened.push(log);
      // Per minute, 3,000 conflicts over more than MINUTE_TOP_K resources: a few hot ones, a long cold
      // tail, more than a cut deletes in one step (1,000 rows).
      const records: CallRecord[] = [];
      for (let m = 0; m < 3; m++)
        for (let i = 0; i < 3_000; i++) {
          const hot = i % 3 === 0;
          const resource = hot ? `/hot/h${i % 10}` : `/cold/c${(i * 7 + m * 13) % (MINUTE_TOP_K + 1_500)}`;
          records.push(
            callRecord({
              time: T0 + m * MINUTE + i * 19,
              resource,
              status: 412,
              code: 'stale-write',
              method: 'PUT',
            }),
          );
        }
      await write(log, records);
      const until = T0 + 3 * MINUTE;
      const truth = new Map<string, number>();
      for (const r of records) truth.set(r.resource!, (truth.get(r.resource!) ?? 0) + 1);
      now = until + HOUR;
      await log.enforceRetention();
      // Each minute cut through to its top-K, over several steps.
      function* perMinute(): Script<number[]> {
        const rows = yield {
          sql: 'SELECT count(*) AS n FROM {s}key_rollups WHERE dim = ? AND span = ? GROUP BY start ORDER BY start',
          args: ['resource', MINUTE],
        };
        return rows.map((r) => Number(r['n']));
      }
      expect(await log.keys.read(perMinute())).toEqual([MINUTE_TOP_K, MINUTE_TOP_K, MINUTE_TOP_K]);
      const ask = admin(log, () => now);
      const found = await ask(
        `/analytics/hotspots?by=resource&limit=200&since=${new Date(T0 - 2 * HOUR).toISOString()}&until=${new Date(until).toISOString()}`,
      );
      // The cut left keys out: the answer says by how much a count may be short, within
      // N/(minute K + 1) + N/(hour K + 1) for N conflicts.
      const error = found['error'] as { conflicts: number; calls: number };
      expect(error.conflicts).toBeGreaterThan(0);
      expect(error.conflicts).toBeLessThanOrEqual(
        records.length / (MINUTE_TOP_K + 1) + records.length / (HOUR_TOP_K + 1),
      );
      for (const item of found['items'] as { key: string; conflicts: number }[]) {
        const exact = truth.get(item.key)!;
        expect(item.conflicts).toBeLessThanOrEqual(exact);
        expect(item.conflicts).toBeGreaterThanOrEqual(exact - error.conflicts);
      }
      // The hot keys lead, exactly, in order.
      const hot = [...truth]
        .filter(([k]) => k.startsWith('/hot/'))
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      expect(
        (found['items'] as { key: string; conflicts: number }[])
          .slice(0, 10)
          .map((i) => [i.key, i.conflicts]),
      ).toEqual(hot);
    });

    it('sums AI calls’ tokens and cost per consumer, model and route, with totals, window and filters', async () => {
      const log = await open();
      const ai = (over: Partial<AiCallInfo> = {}): AiCallInfo => ({
        alias: 'fast',
        provider: 'openai',
        model: 'gpt-4o-mini',
        tokensIn: 100,
        tokensOut: 10,
        cost: 0.25,
        estimated: false,
        attempts: 1,
        stream: false,
        ttftMs: null,
        prompt: null,
        promptVersion: null,
        conversation: null,
        ...over,
      });
      const call = (consumer: string | null, route: string, time: number, info: AiCallInfo, status = 200) =>
        callRecord({ method: 'POST', route, consumer, time, status, ai: info });
      const big = ai({
        provider: 'anthropic',
        model: 'claude-sonnet',
        alias: 'smart',
        cost: 1.5,
        tokensIn: 1000,
      });
      const local = ai({
        provider: 'ollama',
        model: 'llama3',
        alias: 'local',
        cost: null,
        tokensIn: 5000,
        tokensOut: 500,
      });
      await write(log, [
        call('alice', 'chat', T0, ai()),
        call('alice', 'chat', T0 + 1000, ai({ tokensIn: 50, tokensOut: 5, cost: 0.125 }), 502),
        call('alice', 'summarise', T0 + 2000, big),
        call('bob', 'chat', T0 + 3000, ai()),
        call('bob', 'chat', T0 + 4000, local),
        call(null, 'chat', T0 + 5000, local),
        // Outside the window, and a call that is not an AI call: neither counts.
        call('alice', 'chat', T0 + 6 * MINUTE, big),
        callRecord({ consumer: 'alice', time: T0 + 1000 }),
      ]);
      const ask = admin(log, () => T0 + 10 * MINUTE);
      const since = new Date(T0).toISOString();
      const until = new Date(T0 + 5 * MINUTE).toISOString();
      const window = `since=${since}&until=${until}`;
      const sums = (
        calls: number,
        errors: number,
        tokensIn: number,
        tokensOut: number,
        cost: number,
        unpriced: number,
      ) => ({ calls, errors, tokensIn, tokensOut, cost, unpriced });
      const keys = (
        consumer: string | null,
        route: string | null,
        provider: string | null,
        model: string | null,
      ) => ({ consumer, route, provider, model });

      const byDefault = await ask(`/analytics/usage?${window}`);
      expect(byDefault).toEqual({
        items: [
          { ...keys('alice', null, 'anthropic', 'claude-sonnet'), ...sums(1, 0, 1000, 10, 1.5, 0) },
          { ...keys('alice', null, 'openai', 'gpt-4o-mini'), ...sums(2, 1, 150, 15, 0.375, 0) },
          { ...keys('bob', null, 'openai', 'gpt-4o-mini'), ...sums(1, 0, 100, 10, 0.25, 0) },
          // Unpriced: cost 0, then most tokens first.
          { ...keys(null, null, 'ollama', 'llama3'), ...sums(1, 0, 5000, 500, 0, 1) },
          { ...keys('bob', null, 'ollama', 'llama3'), ...sums(1, 0, 5000, 500, 0, 1) },
        ].sort((a, b) => b.cost - a.cost || (a.consumer ?? '').localeCompare(b.consumer ?? '')),
        totals: sums(6, 1, 11250, 1035, 2.125, 2),
      });
      expect(await ask(`/analytics/usage?${window}&by=consumer,model`)).toEqual(byDefault);

      expect(await ask(`/analytics/usage?${window}&by=model`)).toEqual({
        items: [
          { ...keys(null, null, 'anthropic', 'claude-sonnet'), ...sums(1, 0, 1000, 10, 1.5, 0) },
          { ...keys(null, null, 'openai', 'gpt-4o-mini'), ...sums(3, 1, 250, 25, 0.625, 0) },
          { ...keys(null, null, 'ollama', 'llama3'), ...sums(2, 0, 10000, 1000, 0, 2) },
        ],
        totals: sums(6, 1, 11250, 1035, 2.125, 2),
      });

      expect((await ask(`/analytics/usage?${window}&by=route`)).items).toEqual([
        { ...keys(null, 'summarise', null, null), ...sums(1, 0, 1000, 10, 1.5, 0) },
        { ...keys(null, 'chat', null, null), ...sums(5, 1, 10250, 1025, 0.625, 2) },
      ]);

      // The consumer filter, with route as the grouping.
      expect(await ask(`/analytics/usage?${window}&by=route&consumer=alice`)).toEqual({
        items: [
          { ...keys(null, 'summarise', null, null), ...sums(1, 0, 1000, 10, 1.5, 0) },
          { ...keys(null, 'chat', null, null), ...sums(2, 1, 150, 15, 0.375, 0) },
        ],
        totals: sums(3, 1, 1150, 25, 1.875, 0),
      });
      expect((await ask(`/analytics/usage?${window}&by=consumer&route=summarise`)).items).toEqual([
        { ...keys('alice', null, null, null), ...sums(1, 0, 1000, 10, 1.5, 0) },
      ]);
      expect((await ask(`/analytics/usage?${window}&consumer=nobody`)).totals).toEqual(
        sums(0, 0, 0, 0, 0, 0),
      );

      // since and until: [since, until), and the default last hour takes the later call too.
      const narrow = `since=${new Date(T0 + 1000).toISOString()}&until=${new Date(T0 + 3000).toISOString()}`;
      expect((await ask(`/analytics/usage?${narrow}&by=consumer`)).items).toEqual([
        { ...keys('alice', null, null, null), ...sums(2, 1, 1050, 15, 1.625, 0) },
      ]);
      expect((await ask('/analytics/usage?by=consumer')).totals).toEqual(sums(7, 1, 12250, 1045, 3.625, 2));

      // Parameters are checked as the other reports check theirs.
      const app = Fastify({ logger: false });
      // As the admin app answers a problem (admin/app.ts).
      app.setErrorHandler((error, _request, reply) =>
        error instanceof GatewayProblem
          ? reply
              .code(createProblem(error.code, { detail: error.detail }).status)
              .send({ code: error.code, ...error.members })
          : reply.code(500).send(),
      );
      registerAnalyticsRoutes(app, log, [], () => T0 + 10 * MINUTE);
      for (const [query, parameter] of [
        ['by=tokens', 'by'],
        ['by=consumer,consumer', 'by'],
        ['by=', 'by'],
        ['since=yesterday', 'since'],
        [`since=${until}&until=${since}`, 'since'],
      ] as const) {
        const res = await app.inject({ method: 'GET', url: `/analytics/usage?${query}` });
        expect(res.statusCode, query).toBe(400);
        expect(res.json(), query).toMatchObject({
          code: 'malformed-request',
          errors: [{ parameter }],
        });
      }
    });

    it('reports unconditional writes and those near another consumer’s write of the resource', async () => {
      const log = await open();
      const w = (consumer: string, resource: string, time: number, conditional: boolean, status = 200) =>
        callRecord({ method: 'PUT', consumer, resource, time, conditional, status });
      await write(log, [
        w('alice', '/products/a', T0, false),
        w('bob', '/products/a', T0 + 30_000, true),
        w('alice', '/products/b', T0, false),
        w('bob', '/products/b', T0 + 90_000, true),
        w('alice', '/products/c', T0, false),
        w('bob', '/products/c', T0 + 10_000, false, 412),
        w('bob', '/products/d', T0, true),
        callRecord({ method: 'GET', consumer: 'carol', time: T0 }),
      ]);
      expect(
        (await unconditional(log, { since: T0, until: T0 + 5 * MINUTE }, T0 + 10 * MINUTE)).items,
      ).toEqual([
        { consumer: 'alice', writes: 3, unconditional: 3, overlapping: 1 },
        { consumer: 'bob', writes: 4, unconditional: 1, overlapping: 1 },
      ]);
    });

    it('counts calls to lifecycle routes per consumer in roll-ups, over long windows and two writers', async () => {
      const { routes } = resolveGatewayConfig(
        {
          gateway: {
            upstreams: { a: { targets: ['http://127.0.0.1:1'] } },
            routes: [
              { name: 'shop', match: { prefix: '/shop' }, upstream: 'a' },
              {
                name: 'v1',
                match: { prefix: '/v1' },
                upstream: 'a',
                lifecycle: { deprecated: '2025-10-01', sunset: '2026-01-02T09:05:00Z', link: '/v2' },
              },
              {
                name: 'old',
                match: { prefix: '/old' },
                upstream: 'a',
                lifecycle: { deprecated: '2026-01-01' },
              },
            ],
          },
        },
        { env: {} },
      );
      const log = await open();
      const other = await current!.open(logConfig(), () => T0 + 10 * MINUTE);
      opened.push(other);
      const v1 = (consumer: string | null, time: number, gone = false) =>
        callRecord({
          route: 'v1',
          consumer,
          time,
          lifecycle: true,
          ...(gone ? { status: 410, code: 'sunset' } : {}),
        });
      // Alice over three days, then after the sunset; Bob in one minute through two writers.
      const alice = [0, 1, 2].map((day) => v1('alice', T0 - day * 86_400_000 - 5_000));
      const late = v1('alice', T0 + 6 * MINUTE, true);
      const bob = Array.from({ length: 10 }, (_, i) => v1('bob', T0 + 2 * MINUTE + i * 1_000));
      await Promise.all([
        write(log, [...alice, late, ...bob.slice(0, 5), v1(null, T0 + MINUTE)]),
        write(other, [...bob.slice(5), callRecord({ route: 'shop', consumer: 'carol', time: T0 })]),
      ]);

      const week = await lifecycle(log, routes, { since: T0 - 7 * 86_400_000, until: T0 + 10 * MINUTE });
      expect(week.items).toEqual([
        {
          route: 'v1',
          deprecated: '2025-10-01T00:00:00.000Z',
          sunset: '2026-01-02T09:05:00.000Z',
          link: '/v2',
          calls: 15,
          gone: 1,
          consumers: [
            { consumer: 'bob', calls: 10, gone: 0, lastAt: new Date(T0 + 2 * MINUTE + 9_000).toISOString() },
            { consumer: 'alice', calls: 4, gone: 1, lastAt: new Date(late.time).toISOString() },
            { consumer: null, calls: 1, gone: 0, lastAt: new Date(T0 + MINUTE).toISOString() },
          ],
        },
        {
          route: 'old',
          deprecated: '2026-01-01T00:00:00.000Z',
          sunset: null,
          link: null,
          calls: 0,
          gone: 0,
          consumers: [],
        },
      ]);
      // Whole minutes: a window starting within a minute counts that minute; one ending before it does not.
      const recent = await lifecycle(log, routes, {
        route: 'v1',
        since: T0 + 30_000,
        until: T0 + 2 * MINUTE,
      });
      expect(recent.items.map((i) => [i.route, i.consumers])).toEqual([
        ['v1', [{ consumer: null, calls: 1, gone: 0, lastAt: new Date(T0 + MINUTE).toISOString() }]],
      ]);
      // Any window, long or short, counts what a scan of the calls would (widened to whole minutes).
      const all = [...alice, late, ...bob, v1(null, T0 + MINUTE)];
      for (const [since, until] of [
        [T0 - 2 * 86_400_000 - 3 * MINUTE, T0 + 3 * MINUTE],
        [T0 - 86_400_000 - 2 * 3_600_000 + 30_000, T0 - 5_000],
        [T0 - 3 * 86_400_000, T0 - 86_400_000],
        [T0 + 2 * MINUTE + 1_000, T0 + 6 * MINUTE + 1],
      ] as const) {
        const from = Math.floor(since / MINUTE) * MINUTE;
        const to = Math.ceil(until / MINUTE) * MINUTE;
        const expected = new Map<string | null, number>();
        for (const r of all)
          if (r.time >= from && r.time < to) expected.set(r.consumer, (expected.get(r.consumer) ?? 0) + 1);
        const usage = await log.lifecycleUsage(since, until);
        expect(new Map(usage.map((u) => [u.consumer, u.calls]))).toEqual(expected);
      }
      // Retention drops a row once its whole span is past retention.rollups (a day here): the call
      // two days before T0 is gone; of the one a day before, the minute and hour rows are, its
      // day's row is not.
      const short = await current!.open(logConfig({ rollupsMs: 86_400_000 }), () => T0 + 10 * MINUTE);
      opened.push(short);
      await short.enforceRetention();
      const dayBefore = T0 - 86_400_000;
      expect(await log.lifecycleUsage(dayBefore - 10 * MINUTE, dayBefore + 10 * MINUTE)).toEqual([]);
      const kept = await lifecycle(log, routes, {
        route: 'v1',
        since: T0 - 7 * 86_400_000,
        until: T0 + 10 * MINUTE,
      });
      expect(kept.items[0]!.consumers.map((c) => [c.consumer, c.calls])).toEqual([
        ['bob', 10],
        ['alice', 3],
        [null, 1],
      ]);
    });
  });
}
