import { afterEach, describe, expect, it } from 'vitest';
import type { LogConfig } from '../config/types.js';
import type { CallLog } from './log.js';
import type { AiCallInfo, CallRecord } from './record.js';

/** One database and as many call logs on it as a test opens (two writers = two processes). */
export interface CallLogFixture {
  open(log: LogConfig, now?: () => number): Promise<CallLog>;
  /** Removes the database (the suite closes the logs first). */
  dispose(): Promise<void>;
}

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A log configuration: 4 KiB bodies, the usual redactions, retention as given. */
export function logConfig(retention: Partial<LogConfig['retention']> = {}): LogConfig {
  return {
    bodies: 4096,
    redactHeaders: ['authorization'],
    redactPointers: ['/password'],
    retention: { callsMs: 7 * 86_400_000, rollupsMs: 90 * 86_400_000, maxCalls: 1_000_000, ...retention },
  };
}

let n = 0;
/** A call record with plausible values; `over` replaces any of them. */
export function callRecord(over: Partial<CallRecord> = {}): CallRecord {
  n++;
  return {
    id: `call-${process.pid}-${n}-${Math.random().toString(36).slice(2)}`,
    requestId: `req-${n}`,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    time: T0,
    route: 'shop',
    target: 'http://127.0.0.1:4000',
    consumer: 'alice',
    clientIp: '127.0.0.1',
    method: 'GET',
    path: '/shop/products/p1',
    query: null,
    resource: '/products/p1',
    status: 200,
    code: null,
    conditional: false,
    unconditionalWarned: false,
    idempotencyKey: null,
    retryAfter: null,
    durationMs: 1.5,
    upstreamMs: 1.25,
    requestBytes: 0,
    responseBytes: 10,
    requestHeaders: { authorization: 'Bearer secret', accept: 'application/json' },
    responseHeaders: { 'content-type': 'application/json' },
    requestBody: null,
    responseBody: null,
    ...over,
  };
}

/**
 * The behaviour every {@link CallLog} adapter must have, written once and run against each: the
 * fields of SPEC 5.3 as stored and shown, redaction, every filter of `GET /calls` with cursors in
 * both orders, roll-ups per route and minute, retention by age and by `maxCalls`, and two writers
 * adding roll-ups to the same minute without losing a count.
 */
export function callLogConformance(name: string, fixture: () => Promise<CallLogFixture>): void {
  describe(`call log conformance: ${name}`, () => {
    const opened: CallLog[] = [];
    let current: CallLogFixture | undefined;
    afterEach(async () => {
      for (const log of opened.splice(0)) await log.close();
      await current?.dispose();
      current = undefined;
    });
    const open = async (config = logConfig(), now?: () => number) => {
      current ??= await fixture();
      const log = await current.open(config, now);
      opened.push(log);
      return log;
    };

    it('stores every field, redacted, and shows a call in full by id', async () => {
      const log = await open();
      const body = Buffer.from(JSON.stringify({ password: 'hunter2', name: 'n' }));
      const r = callRecord({
        method: 'PUT',
        query: 'x=1',
        status: 412,
        code: 'stale-write',
        conditional: true,
        idempotencyKey: 'k-1',
        requestBytes: body.length,
        requestBody: { data: body, truncated: false, contentType: 'application/json' },
        responseBody: { data: Buffer.alloc(8, 0xff), truncated: true, contentType: 'image/png' },
      });
      log.push(r);
      await log.flush();
      expect(log.stats.written).toBe(1);
      expect(await log.count()).toBe(1);
      const { items, next } = await log.query({ order: 'desc', limit: 10 });
      expect(next).toBeNull();
      expect(items).toEqual([
        {
          id: r.id,
          requestId: r.requestId,
          traceparent: r.traceparent,
          time: new Date(T0).toISOString(),
          route: 'shop',
          target: 'http://127.0.0.1:4000',
          consumer: 'alice',
          clientIp: '127.0.0.1',
          method: 'PUT',
          path: '/shop/products/p1',
          query: 'x=1',
          resource: '/products/p1',
          status: 412,
          code: 'stale-write',
          conditional: true,
          unconditionalWarned: false,
          retryOf: null,
          early: false,
          durationMs: 1.5,
          upstreamMs: 1.25,
          requestBytes: body.length,
          responseBytes: 10,
          ai: null,
        },
      ]);
      const full = await log.get(r.id);
      expect(full).toMatchObject({
        idempotencyKey: 'k-1',
        requestHeaders: { authorization: '[redacted]', accept: 'application/json' },
        responseHeaders: { 'content-type': 'application/json' },
        requestBody: '{"password":"[redacted]","name":"n"}',
        requestBodyEncoding: 'utf8',
        requestBodyTruncated: false,
        responseBody: Buffer.alloc(8, 0xff).toString('base64'),
        responseBodyEncoding: 'base64',
        responseBodyTruncated: true,
      });
      expect(await log.get('call-missing')).toBeUndefined();
      expect(await log.get('call-\u0000')).toBeUndefined();
      expect((await log.query({ resource: '/p\u0000', order: 'asc', limit: 10 })).items).toEqual([]);
      log.push(r); // the same id again is ignored
      await log.flush();
      expect(await log.count()).toBe(1);
    });

    it('keeps what an AI call used: through push to GET /calls and GET /calls/{id}, filtered by model', async () => {
      const log = await open();
      const ai: AiCallInfo = {
        alias: 'fast',
        provider: 'openai',
        model: 'gpt-4o-mini',
        tokensIn: 1234,
        tokensOut: 56,
        cost: 0.000219,
        estimated: false,
        attempts: 2,
        stream: true,
        ttftMs: 123.456,
        prompt: 'summarise',
        promptVersion: '"v3"',
        conversation: 'conv-1',
      };
      const unpriced: AiCallInfo = {
        ...ai,
        alias: 'local',
        provider: null,
        model: null,
        cost: null,
        estimated: true,
        attempts: 1,
        stream: false,
        ttftMs: null,
        prompt: null,
        promptVersion: null,
        conversation: null,
      };
      const a = callRecord({ route: 'chat', method: 'POST', ai });
      const b = callRecord({ route: 'chat', method: 'POST', status: 503, ai: unpriced, time: T0 + 1 });
      const plain = callRecord({ time: T0 + 2 });
      for (const r of [a, b, plain]) log.push(r);
      await log.flush();
      expect(log.stats).toMatchObject({ written: 3, dropped: 0 });
      expect((await log.get(a.id))?.['ai']).toEqual(ai);
      expect((await log.get(b.id))?.['ai']).toEqual(unpriced);
      expect((await log.get(plain.id))?.['ai']).toBeNull();
      const { items } = await log.query({ order: 'asc', limit: 10 });
      expect(items.map((c) => c['ai'])).toEqual([ai, unpriced, null]);
      const ids = async (model: string) =>
        (await log.query({ model, order: 'asc', limit: 10 })).items.map((c) => c['id']);
      expect(await ids('gpt-4o-mini')).toEqual([a.id]);
      expect(await ids('fast')).toEqual([a.id]);
      expect(await ids('local')).toEqual([b.id]);
      expect(await ids('none')).toEqual([]);
    });

    it('keeps a batch whole when a record holds U+0000', async () => {
      const log = await open();
      log.push(callRecord({ resource: '/products/a\u0000b', query: 'q=\u0000' }));
      log.push(callRecord());
      await log.flush();
      expect(log.stats).toMatchObject({ written: 2, dropped: 0 });
      expect(await log.count()).toBe(2);
    });

    it('filters by route, status, code, consumer, resource and time, and pages both ways', async () => {
      const log = await open();
      const records = [
        callRecord({ route: 'shop', status: 200 }),
        callRecord({ route: 'shop', status: 412, code: 'stale-write', time: T0 + 1000 }),
        callRecord({ route: 'admin', status: 409, code: 'conflict', consumer: 'bob', time: T0 + 2000 }),
        callRecord({ route: 'shop', status: 503, resource: '/products/p2', time: T0 + 3000 }),
        callRecord({ route: 'shop', status: 201, consumer: null, resource: null, time: T0 + 4000 }),
      ];
      for (const r of records) log.push(r);
      await log.flush();
      const ids = async (q: Parameters<CallLog['query']>[0]) =>
        (await log.query(q)).items.map((c) => c['id']);
      const id = (i: number) => records[i]!.id;
      expect(await ids({ order: 'asc', limit: 10 })).toEqual(records.map((r) => r.id));
      expect(await ids({ order: 'desc', limit: 10 })).toEqual(records.map((r) => r.id).reverse());
      expect(await ids({ route: 'admin', order: 'asc', limit: 10 })).toEqual([id(2)]);
      expect(await ids({ status: { exact: 412 }, order: 'asc', limit: 10 })).toEqual([id(1)]);
      expect(await ids({ status: { class: 4 }, order: 'asc', limit: 10 })).toEqual([id(1), id(2)]);
      expect(await ids({ code: 'conflict', order: 'asc', limit: 10 })).toEqual([id(2)]);
      expect(await ids({ consumer: 'bob', order: 'asc', limit: 10 })).toEqual([id(2)]);
      expect(await ids({ resource: '/products/p1', order: 'asc', limit: 10 })).toEqual([id(0), id(1), id(2)]);
      expect(await ids({ since: T0 + 1000, until: T0 + 3000, order: 'asc', limit: 10 })).toEqual([
        id(1),
        id(2),
      ]);
      for (const order of ['asc', 'desc'] as const) {
        const seen: unknown[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = await log.query({ route: 'shop', order, limit: 2, cursor });
          seen.push(...page.items.map((c) => c['id']));
          if (page.next === null) break;
          cursor = page.next;
        }
        const shop = [id(0), id(1), id(3), id(4)];
        expect(seen).toEqual(order === 'asc' ? shop : shop.reverse());
      }
    });

    it('rolls calls up per route and minute: counts by status and code, a latency histogram', async () => {
      const log = await open();
      log.push(callRecord({ status: 200, durationMs: 1 }));
      log.push(callRecord({ status: 412, code: 'stale-write', durationMs: 100 }));
      log.push(callRecord({ status: 200, time: T0 + MINUTE, durationMs: 1 }));
      log.push(callRecord({ route: 'admin', status: 500 }));
      await log.flush();
      log.push(callRecord({ status: 412, code: 'stale-write', time: T0 + 5000, durationMs: 100 }));
      await log.flush();
      const shop = await log.rollups('shop', T0, T0 + 2 * MINUTE);
      expect(shop.map((r) => [r.minute, r.calls])).toEqual([
        [T0, 3],
        [T0 + MINUTE, 1],
      ]);
      expect(shop[0]).toMatchObject({ byStatus: { 200: 1, 412: 2 }, byCode: { 'stale-write': 2 } });
      const total = (h: Record<number, number>) => Object.values(h).reduce((a, b) => a + b, 0);
      expect(total(shop[0]!.latency)).toBe(3);
      expect(Object.keys(shop[0]!.latency)).toHaveLength(2);
      expect(await log.rollups(undefined, T0, T0 + MINUTE)).toHaveLength(2);
      expect(await log.rollups('shop', T0 + MINUTE, T0 + 2 * MINUTE)).toHaveLength(1);
    });

    it('deletes raw calls past their age and beyond maxCalls, and roll-ups past theirs', async () => {
      let now = T0;
      const log = await open(
        logConfig({ callsMs: 10 * MINUTE, rollupsMs: 60 * MINUTE, maxCalls: 5 }),
        () => now,
      );
      for (let i = 0; i < 4; i++) log.push(callRecord({ time: T0 - 20 * MINUTE })); // past their age
      for (let i = 0; i < 8; i++) log.push(callRecord({ time: T0 + i }));
      await log.flush();
      await log.enforceRetention();
      expect(await log.count()).toBe(5);
      expect(log.stats.deleted).toBe(7);
      const kept = await log.query({ order: 'asc', limit: 10 });
      expect(kept.items.map((c) => c['time'])).toEqual(
        [3, 4, 5, 6, 7].map((i) => new Date(T0 + i).toISOString()),
      );
      expect(await log.rollups('shop', T0 - 30 * MINUTE, T0 + MINUTE)).toHaveLength(2);
      now = T0 + 45 * MINUTE;
      await log.enforceRetention();
      expect(await log.rollups('shop', T0 - 30 * MINUTE, T0 + MINUTE)).toHaveLength(1);
    });

    it('two writers add their roll-ups of the same minute: no count is lost', async () => {
      const [a, b] = [await open(), await open()];
      const per = 300;
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < per / 5; i++) {
          a.push(callRecord({ status: 200, time: T0 + i, durationMs: 2 }));
          b.push(callRecord({ status: 409, code: 'conflict', time: T0 + i, durationMs: 2 }));
        }
        await Promise.all([a.flush(), b.flush()]);
      }
      expect(a.stats.dropped + b.stats.dropped).toBe(0);
      const [minute] = await b.rollups('shop', T0, T0 + MINUTE);
      expect(minute).toMatchObject({
        calls: 2 * per,
        byStatus: { 200: per, 409: per },
        byCode: { conflict: per },
      });
      expect(Object.values(minute!.latency)).toEqual([2 * per]);
      expect(await a.count()).toBe(2 * per);
    });
  });
}
