// Helpers for tests that need Redis. The URL and the binary come from the global setup
// (test/setup/redis.ts); tests keep to keys of their own, so suites share one server in parallel.
import { randomBytes } from 'node:crypto';
import { describe, inject } from 'vitest';
import { startRedisServer, type RedisServer } from '../../scripts/redis-server.mjs';

/** The URL of the test Redis, or null when Redis is unavailable and its suites are skipped. */
export function redisUrl(): string | null {
  // undefined when the run was configured without the global setup
  return inject('truce.redisUrl') ?? null;
}

/**
 * `describe` for suites that need Redis: `fn` receives its URL. Without Redis the suite is registered
 * as skipped, with the reason in its name, and its tests count as skipped.
 */
export function describeWithRedis(name: string, fn: (url: string) => void): void {
  const url = redisUrl();
  if (url === null)
    describe.skip(`${name} (skipped: no Redis; see the test setup's output)`, () =>
      fn('redis://redis.invalid'));
  else describe(name, () => fn(url));
}

/**
 * A Redis of the test's own, for tests that kill it (on `port` to restart one). Null when there is
 * no redis-server binary here (TRUCE_TEST_REDIS_URL naming a remote server).
 */
export async function ownRedis(port?: number): Promise<RedisServer | null> {
  const binary = inject('truce.redisServer') ?? null;
  if (binary === null) return null;
  return startRedisServer({ binary, ...(port === undefined ? {} : { port }) });
}

/** A name no other test uses, for keys and routes. */
export const uniqueName = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;
