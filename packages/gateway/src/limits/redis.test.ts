import { Redis } from 'ioredis';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithRedis, ownRedis, uniqueName } from '../../../../test/support/redis.js';
import { MemoryTokenBudget, TOKENS_LUA, tokenDecision } from '../ai/tokens.js';
import type { RouteConfig } from '../config/types.js';
import { GCRA_LUA, gcra } from './gcra.js';
import { RedisRateLimiter } from './redis.js';

const route = (name: string, limit: number, windowMs: number) =>
  ({ name, rateLimit: { limit, windowMs, by: 'ip' } }) as unknown as RouteConfig;

/** [tat before, now, limit, windowMs]: each branch of gcra() and the roundings at its edges. */
const CASES: [number | undefined, number, number, number][] = [
  [undefined, 1_000_000, 5, 60_000], // empty bucket
  [900_000, 1_000_000, 5, 60_000], // tat in the past: a full bucket
  [1_000_000, 1_000_000, 5, 60_000], // one interval used
  [1_048_000, 1_000_000, 5, 60_000], // exactly the last token: allowAt == now
  [1_048_001, 1_000_000, 5, 60_000], // one millisecond short: refused, Retry-After 1
  [1_060_000, 1_000_000, 5, 60_000], // drained: refused for one interval
  [undefined, 1_000_000, 1, 60_000], // limit 1
  [1_060_000, 1_000_000, 1, 60_000],
  [1_000_000.5, 1_000_000, 7, 60_000], // an interval that is not a whole number
  [1_051_428.5714285714, 1_000_000, 7, 60_000],
  [undefined, 1_000_000, 1_000, 1_000], // a millisecond interval
  [1_000_998.9999, 1_000_000, 1_000, 1_000],
  [1_000_999.5, 1_000_000, 1_000, 1_000],
  [1_700_000_000_123.25, 1_700_000_000_000, 3, 86_400_000], // real times, a day's window
  [1_700_086_400_000, 1_700_000_000_000, 3, 86_400_000],
];

describeWithRedis('RedisRateLimiter', (url) => {
  let limiter: RedisRateLimiter;
  let redis: Redis;
  beforeAll(() => {
    limiter = new RedisRateLimiter(url, { log: () => {} });
    redis = new Redis(url);
  });
  afterAll(async () => {
    await limiter.close();
    redis.disconnect();
  });

  /**
   * Runs `script` on a bucket holding `tat` (none when undefined) with `args`, and reads the bucket
   * back. One transaction, so that a bucket whose time to live is a millisecond is still there to
   * be read.
   */
  async function atomically(script: string, key: string, tat: number | undefined, args: (string | number)[]) {
    const set = tat === undefined ? redis.multi().del(key) : redis.multi().set(key, String(tat));
    const replies = await set
      .eval(script, 1, key, ...args)
      .get(key)
      .exec();
    const stored = replies![2]![1] as string | null;
    return { reply: replies![1]![1], tat: stored === null ? undefined : Number(stored) };
  }

  /** The rate limiter's script on a bucket holding `tat` at an explicit `now`, answering like gcra(). */
  async function lua(key: string, tat: number | undefined, now: number, limit: number, windowMs: number) {
    const { reply, tat: after } = await atomically(GCRA_LUA, key, tat, [limit, windowMs, now]);
    const [allowed, remaining, resetSeconds] = reply as [number, number, number];
    return { decision: { allowed: allowed === 1, remaining, resetSeconds }, tat: after };
  }

  it('decides as gcra() does, on a table of cases', async () => {
    const key = uniqueName('truce:test:');
    for (const [tat, now, limit, windowMs] of CASES) {
      const expected = gcra(tat, now, limit, windowMs);
      expect(await lua(key, tat, now, limit, windowMs), JSON.stringify([tat, now, limit, windowMs])).toEqual(
        expected,
      );
    }
  });

  it('decides as gcra() does over random sequences of requests', async () => {
    const key = uniqueName('truce:test:');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 30 }),
        async (limit, windowMs, gaps) => {
          let tat: number | undefined;
          let now = 1_700_000_000_000;
          for (const gap of gaps) {
            now += gap;
            const expected = gcra(tat, now, limit, windowMs);
            expect(await lua(key, tat, now, limit, windowMs)).toEqual(expected);
            tat = expected.tat;
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('evaluates by hash, the way take() does', async () => {
    const key = uniqueName('truce:test:');
    const [allowed, remaining, resetSeconds] = await limiter.evaluate(key, ['4', '60000', '1000000']);
    expect({ allowed: allowed === 1, remaining, resetSeconds }).toEqual(
      gcra(undefined, 1_000_000, 4, 60_000).decision,
    );
  });

  it('keeps the bucket only until it is full again, and a refusal writes nothing', async () => {
    const r = route(uniqueName('ttl'), 2, 10_000);
    const key = `truce:rl:${r.name}:ip:a`;
    expect((await limiter.take(r, 'ip:a', 0)).allowed).toBe(true);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
    expect((await limiter.take(r, 'ip:a', 0)).allowed).toBe(true);
    const [tat, ttlFull] = [await redis.get(key), await redis.pttl(key)];
    expect(ttlFull).toBeGreaterThan(9_000);
    for (let i = 0; i < 5; i++) expect((await limiter.take(r, 'ip:a', 0)).allowed).toBe(false);
    expect(await redis.get(key)).toBe(tat);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(ttlFull);
  });

  it("uses Redis's clock, not the caller's", async () => {
    const r = route(uniqueName('clock'), 10, 60_000);
    const [seconds, micros] = await redis.time();
    const before = Number(seconds) * 1000 + Number(micros) / 1000;
    // A caller whose clock is an hour ahead changes nothing.
    await limiter.take(r, 'ip:skewed', Date.now() + 3_600_000);
    const tat = Number(await redis.get(`truce:rl:${r.name}:ip:skewed`));
    expect(tat - before).toBeGreaterThanOrEqual(6_000);
    expect(tat - before).toBeLessThan(7_000);
  });

  it('sends the script again after SCRIPT FLUSH (NOSCRIPT)', async () => {
    const r = route(uniqueName('flush'), 3, 60_000);
    expect((await limiter.take(r, 'ip:a', 0)).remaining).toBe(2);
    await redis.script('FLUSH');
    expect((await limiter.take(r, 'ip:a', 0)).remaining).toBe(1);
  });

  it('is exact across limiters under many concurrent requests', async () => {
    const other = new RedisRateLimiter(url, { log: () => {} });
    await other.ready();
    try {
      const r = route(uniqueName('shared'), 50, 60_000);
      const decisions = await Promise.all(
        Array.from({ length: 300 }, (_, i) => (i % 2 ? limiter : other).take(r, 'ip:many', 0)),
      );
      const allowed = decisions.filter((d) => d.allowed);
      expect(allowed).toHaveLength(50);
      // Every remaining count from 49 down to 0 exactly once: no two requests saw the same state.
      expect(allowed.map((d) => d.remaining).sort((a, b) => b - a)).toEqual(
        Array.from({ length: 50 }, (_, i) => 49 - i),
      );
      for (const d of decisions.filter((d) => !d.allowed)) {
        expect(d.remaining).toBe(0);
        expect(d.resetSeconds).toBeGreaterThanOrEqual(1);
      }
    } finally {
      await other.close();
    }
  });

  it('keeps token budgets as the memory store does, over random sequences of peeks and spends', async () => {
    const key = uniqueName('truce:test:');
    // Each step sets the bucket to the model's state and runs the script at an explicit time.
    const step = async (tat: number | undefined, perMinute: number, tokens: number | null, now: number) => {
      const { reply, tat: after } = await atomically(TOKENS_LUA, key, tat, [perMinute, tokens ?? '', now]);
      return { used: Number(reply), tat: after };
    };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 120_000 }),
            tokens: fc.option(fc.integer({ min: 0, max: 5_000_000 })),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        async (perMinute, steps) => {
          const model = new MemoryTokenBudget();
          let now = 1_700_000_000_000;
          let tat: number | undefined;
          for (const { gap, tokens } of steps) {
            now += gap;
            const expected =
              tokens === null
                ? await model.peek('r', 's', perMinute, now)
                : await model.spend('r', 's', tokens, perMinute, now);
            const got = await step(tat, perMinute, tokens, now);
            expect(tokenDecision(got.used, perMinute)).toEqual(expected);
            if (got.tat !== undefined) tat = got.tat;
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('shares one token budget exactly between limiters under concurrent spends, with a key per route and subject', async () => {
    const other = new RedisRateLimiter(url, { log: () => {} });
    await other.ready();
    try {
      const name = uniqueName('tpm');
      // 60 tokens a minute: one second per token, so that the test's own duration cannot refill one.
      const spends = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? limiter : other).tokens.spend(name, 'c:a', 1, 60, 0)),
      );
      // Every spend saw the one before it: 59 tokens left down to 10, each once.
      expect(spends.map((d) => d.remaining).sort((a, b) => b - a)).toEqual(
        Array.from({ length: 50 }, (_, i) => 59 - i),
      );
      expect(await limiter.tokens.peek(name, 'c:a', 60, 0)).toMatchObject({ allowed: true, remaining: 10 });
      expect(await other.tokens.peek(name, 'c:b', 60, 0)).toMatchObject({ allowed: true, remaining: 60 });
      // Into debt: 25 more leave 15 owed, so the next token is back in about 16 s.
      await other.tokens.spend(name, 'c:a', 25, 60, 0);
      const spent = await limiter.tokens.peek(name, 'c:a', 60, 0);
      expect(spent).toMatchObject({ allowed: false, remaining: 0 });
      expect(spent.retryAfter).toBeGreaterThanOrEqual(15);
      expect(spent.retryAfter).toBeLessThanOrEqual(16);
      const ttl = await redis.pttl(`truce:tpm:${name}:c:a`);
      expect(ttl).toBeGreaterThan(70_000);
      expect(ttl).toBeLessThanOrEqual(75_000);
    } finally {
      await other.close();
    }
  });

  it('starts without Redis, deciding per process, and closes without waiting for it', async () => {
    const logged: string[] = [];
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const orphan = new RedisRateLimiter('redis://127.0.0.1:1', { log: (m) => logged.push(m) });
    const began = performance.now();
    expect(await orphan.ready()).toBe(false);
    const r = route(uniqueName('nostore'), 1, 60_000);
    expect((await orphan.take(r, 'ip:a', Date.now())).allowed).toBe(true);
    expect((await orphan.take(r, 'ip:a', Date.now())).allowed).toBe(false);
    // Token budgets too: kept in this process while Redis is away.
    await orphan.tokens.spend(r.name, 'ip:a', 100, 60, Date.now());
    expect((await orphan.tokens.peek(r.name, 'ip:a', 60, Date.now())).allowed).toBe(false);
    await orphan.close();
    expect(performance.now() - began).toBeLessThan(2_500);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:1 failed \(.*ECONNREFUSED/);
  });

  it('decides per process within the timeout while Redis is down or stalled, and shares again once back', async (ctx) => {
    const server = await ownRedis();
    if (server === null)
      return ctx.skip(
        'no redis-server binary here to start and kill a Redis of its own (the run uses an external one)',
      );
    const registry = new Registry();
    const logged: string[] = [];
    const own = new RedisRateLimiter(server.url, {
      commandTimeoutMs: 200,
      retryAfterFailureMs: 300,
      log: (m) => logged.push(m),
    });
    own.registerMetrics(registry);
    let restarted: Awaited<ReturnType<typeof ownRedis>> = null;
    const timed = async (r: RouteConfig, subject: string) => {
      const began = performance.now();
      const decision = await own.take(r, subject, Date.now());
      return { ...decision, ms: performance.now() - began };
    };
    try {
      expect(await own.ready()).toBe(true);
      const r = route(uniqueName('outage'), 3, 60_000);
      expect((await timed(r, 'ip:a')).remaining).toBe(2);

      // Stalled (SIGSTOP): the command times out, and this process decides alone.
      process.kill(server.pid, 'SIGSTOP');
      const stalled = await timed(r, 'ip:a');
      expect(stalled.ms).toBeLessThan(1_000);
      expect(stalled.allowed).toBe(true);
      process.kill(server.pid, 'SIGCONT');

      // Killed: every decision answers at once, still limited (here from a fresh local bucket).
      process.kill(server.pid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const down = [];
      for (let i = 0; i < 6; i++) down.push(await timed(r, 'ip:b'));
      expect(down.map((d) => d.allowed)).toEqual([true, true, true, false, false, false]);
      for (const d of down) expect(d.ms).toBeLessThan(500);
      const metrics = await registry.metrics();
      expect(metrics).toMatch(
        new RegExp(`truce_gateway_rate_limit_fallback_total\\{route="${r.name}"\\} [1-9]`),
      );
      expect(metrics).toContain('truce_gateway_rate_limit_store_up 0');
      expect(logged.some((m) => m.includes('rate limits are kept per process'))).toBe(true);

      // Back on the same port: shared again, from Redis's state (empty: it keeps nothing on disk).
      restarted = await ownRedis(server.port);
      const check = new Redis(server.url);
      const shared = () => check.exists(`truce:rl:${r.name}:ip:c`);
      try {
        for (let i = 0; i < 100 && (await shared()) === 0; i++) {
          expect((await own.take(r, 'ip:c', Date.now())).allowed).toBe(true);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(await shared()).toBe(1);
      } finally {
        check.disconnect();
      }
      expect(await registry.metrics()).toContain('truce_gateway_rate_limit_store_up 1');
      expect(logged.at(-1)).toContain('rate limits shared through Redis');
    } finally {
      await own.close();
      await server.stop();
      await restarted?.stop();
    }
  });
});
