import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RouteConfig } from '../config/types.js';
import type { RateDecision, RateLimiter } from '../proxy/policies.js';
import { MemoryTokenBudget, TOKENS_LUA, cost, tokenDecision, type TokenBudget } from '../ai/tokens.js';
import { GCRA_LUA } from './gcra.js';
import { MemoryRateLimiter } from './memory.js';

/** Options of {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** How long one decision may wait for Redis before this process decides alone; default 1 s. */
  readonly commandTimeoutMs?: number;
  /** After Redis failed, how long decisions skip it before trying again; default 1 s. */
  readonly retryAfterFailureMs?: number;
  /** Prefix of every rate-limit key; default `truce:rl:`. */
  readonly keyPrefix?: string;
  /** Prefix of every token-budget key (AI routes' `tokensPerMinute`); default `truce:tpm:`. */
  readonly tokenKeyPrefix?: string;
  /** Where the limiter says that Redis went away and came back; default stderr. */
  readonly log?: (message: string) => void;
}

/**
 * ioredis, loaded when the first Redis limiter is made: about 8 MB of resident memory (its code and
 * what it pulls in) that a gateway without `rateLimitStore: redis://` does not need (SPEC 7 B5).
 */
const loadRedis = (): typeof Redis => (createRequire(import.meta.url)('ioredis') as typeof IORedis).Redis;

/** A Lua script and its SHA-1, the name Redis knows it by once loaded. */
interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

const script = (source: string): LuaScript => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});
const GCRA = script(GCRA_LUA);
const TOKENS = script(TOKENS_LUA);

/** The part of ioredis the limiter uses. */
type RedisDriver = Pick<Redis, 'evalsha' | 'eval' | 'script' | 'quit' | 'disconnect' | 'on' | 'status'>;

/**
 * The rate limiter of `rateLimitStore: redis://…` (SPEC 5.1): exact across gateway processes,
 * since every decision is one atomic Lua script ({@link GCRA_LUA}) over one key per route and
 * subject, on Redis's clock.
 *
 * When Redis does not answer within `commandTimeoutMs` (down, unreachable, stalled), the decision
 * is taken by an in-memory limiter in this process instead, and counted
 * (`truce_gateway_rate_limit_fallback_total`): limits stay enforced, exactly per process, so P
 * gateway processes allow at most P times the limit until Redis is back (docs/gateway.md says why
 * this and not a 503 or no limit at all). A request never waits longer than the timeout.
 *
 * The token budgets of AI routes ({@link tokens}) are kept in the same Redis on the same terms:
 * one atomic script per peek or spend ({@link TOKENS_LUA}), and a budget per process while Redis
 * does not answer.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: RedisDriver;
  private readonly local = new MemoryRateLimiter();
  private readonly localTokens = new MemoryTokenBudget();
  private readonly prefix: string;
  private readonly tokenPrefix: string;
  private readonly retryAfterFailureMs: number;
  private readonly log: (message: string) => void;
  /** The URL without its password, for messages. */
  private readonly where: string;
  /** Until when decisions skip Redis, after a failure. */
  private skipUntil = 0;
  /** Whether Redis answered last time; undefined before the first connection or failure. */
  private healthy: boolean | undefined;
  private fallbacks: Counter<'route'> | undefined;

  constructor(url: string, options: RedisRateLimiterOptions = {}) {
    this.prefix = options.keyPrefix ?? 'truce:rl:';
    this.tokenPrefix = options.tokenKeyPrefix ?? 'truce:tpm:';
    this.retryAfterFailureMs = options.retryAfterFailureMs ?? 1_000;
    this.log = options.log ?? ((message) => console.error(`[gateway] ${message}`));
    const timeout = options.commandTimeoutMs ?? 1_000;
    const Driver = loadRedis();
    this.redis = new Driver(url, {
      commandTimeout: timeout,
      connectTimeout: Math.max(timeout, 1_000),
      // A command while disconnected fails at once instead of queueing behind the reconnection.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnect forever, backing off to one attempt a second.
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    });
    this.where = safeUrl(url);
    this.redis.on('ready', () => {
      this.markUp();
      // Loaded ahead, so that the first decision on each connection is one round trip.
      for (const { source } of [GCRA, TOKENS]) this.redis.script('LOAD', source).catch(() => {});
    });
    // ioredis reports every failed reconnection; markDown says it once per outage.
    this.redis.on('error', (error: Error) => this.markDown(error.message));
  }

  /**
   * Resolves with true once connected, or false on the first failure or after `timeoutMs`: the
   * gateway starts either way, deciding per process until Redis answers.
   */
  async ready(timeoutMs = 2_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.redis.status !== 'ready' && this.healthy === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.redis.status === 'ready';
  }

  /** Adds the limiter's metrics to the gateway's registry (the admin port's `/metrics`). */
  registerMetrics(registry: Registry): void {
    this.fallbacks = new Counter({
      name: 'truce_gateway_rate_limit_fallback_total',
      help: 'Rate-limit and token-budget decisions taken in this process alone because Redis did not answer in time.',
      labelNames: ['route'],
      registers: [registry],
    });
    const isUp = () => this.healthy === true && this.redis.status === 'ready';
    new Gauge({
      name: 'truce_gateway_rate_limit_store_up',
      help: '1 while the shared rate-limit store (Redis) answers, else 0.',
      registers: [registry],
      collect() {
        this.set(isUp() ? 1 : 0);
      },
    });
  }

  async take(route: RouteConfig, subject: string, now: number): Promise<RateDecision> {
    const limit = route.rateLimit!;
    return this.shared(
      route.name,
      async () => {
        const args = [String(limit.limit), String(limit.windowMs), ''];
        const [allowed, remaining, resetSeconds] = await this.evaluate(
          `${this.prefix}${route.name}:${subject}`,
          args,
        );
        return { allowed: allowed === 1, remaining, resetSeconds };
      },
      () => this.local.take(route, subject, now),
    );
  }

  /**
   * The token budgets of AI routes (`tokensPerMinute`), shared through this Redis: one key per
   * route and subject, holding the bucket's `tat` on Redis's clock.
   */
  readonly tokens: TokenBudget = {
    peek: (route, subject, perMinute, now) =>
      this.shared(
        route,
        () => this.budget(route, subject, perMinute, ''),
        () => this.localTokens.peek(route, subject, perMinute, now),
      ),
    spend: (route, subject, tokens, perMinute, now) =>
      this.shared(
        route,
        () => this.budget(route, subject, perMinute, String(cost(tokens))),
        () => this.localTokens.spend(route, subject, tokens, perMinute, now),
      ),
  };

  private async budget(route: string, subject: string, perMinute: number, tokens: string) {
    const used = await this.run(TOKENS, `${this.tokenPrefix}${route}:${subject}`, [
      String(perMinute),
      tokens,
      '',
    ]);
    return tokenDecision(Number(used), perMinute);
  }

  /**
   * Asks Redis, or this process alone when Redis is not connected, failed within the last
   * `retryAfterFailureMs`, or fails now (counted per route in the fallback metric).
   */
  private async shared<T>(route: string, remote: () => Promise<T>, local: () => T | Promise<T>): Promise<T> {
    if (this.redis.status === 'ready' && Date.now() >= this.skipUntil) {
      try {
        const answer = await remote();
        this.markUp();
        return answer;
      } catch (error) {
        this.skipUntil = Date.now() + this.retryAfterFailureMs;
        this.markDown((error as Error).message);
      }
    }
    this.fallbacks?.inc({ route });
    return local();
  }

  /** Runs the rate limiter's script ({@link GCRA_LUA}) on `key`, as {@link take} does. */
  async evaluate(key: string, args: readonly string[]): Promise<[number, number, number]> {
    return (await this.run(GCRA, key, args)) as [number, number, number];
  }

  /**
   * Runs a script by its hash, and sends it whole only when this Redis does not know it yet (first
   * use, a restart, SCRIPT FLUSH). `NOSCRIPT` is the error code Redis defines for that case: the
   * first word of its error reply.
   */
  private async run(lua: LuaScript, key: string, args: readonly string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(lua.sha, 1, key, ...args);
    } catch (error) {
      if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
      return await this.redis.eval(lua.source, 1, key, ...args);
    }
  }

  private markUp(): void {
    if (this.healthy === true) return;
    this.log(`rate limits shared through Redis at ${this.where}`);
    this.healthy = true;
  }

  private markDown(reason: string): void {
    if (this.healthy === false) return;
    this.healthy = false;
    this.log(`Redis at ${this.where} failed (${reason}); rate limits are kept per process until it answers`);
  }

  async close(): Promise<void> {
    await this.local.close();
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => {});
    this.redis.disconnect();
  }
}

/** The URL without its password, for messages. */
function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis';
  }
}
