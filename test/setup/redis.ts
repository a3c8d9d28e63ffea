// Vitest global setup: gives the test workers a Redis URL, or null when there is none.
// TRUCE_TEST_REDIS_URL names an existing server (scripts/test.mjs starts one for the whole run);
// otherwise a throwaway redis-server is started for this vitest run (installing Debian's package
// with apt-get first when it is missing and this is root) and stopped after. Without Redis the
// suites that need it are skipped with one loud line, unless TRUCE_REQUIRE_REDIS=1 (CI) makes
// that a failure. Tests that kill a Redis start their own from `truce.redisServer`.
import { createConnection } from 'node:net';
import type { TestProject } from 'vitest/node';
import { locateRedisServer, startRedisServer } from '../../scripts/redis-server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The URL of a Redis for tests, or null when the Redis suites are skipped. */
    'truce.redisUrl': string | null;
    /** The redis-server binary, for tests that start (and kill) a server of their own, or null. */
    'truce.redisServer': string | null;
  }
}

const log = (message: string) => console.error(`[redis] ${message}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TRUCE_TEST_REDIS_URL;
  if (external) {
    await checkAnswers(external);
    log('using TRUCE_TEST_REDIS_URL');
    project.provide('truce.redisUrl', external);
    project.provide('truce.redisServer', (await locateRedisServer({ log })).binary);
    return async () => {};
  }
  const located = await locateRedisServer({ install: true, log });
  if (located.binary === null) return unavailable(project, located.reason);
  let server;
  try {
    server = await startRedisServer({ binary: located.binary, log });
  } catch (error) {
    const [what = 'unknown error', ...details] = (error as Error).message.split('\n');
    if (details.length > 0) log(details.join('\n'));
    return unavailable(project, `starting redis-server failed: ${what}`);
  }
  project.provide('truce.redisUrl', server.url);
  project.provide('truce.redisServer', located.binary);
  return server.stop;
}

function unavailable(project: TestProject, reason: string): () => Promise<void> {
  if (process.env.TRUCE_REQUIRE_REDIS === '1')
    throw new Error(`Redis is required (TRUCE_REQUIRE_REDIS=1) but unavailable: ${reason}`);
  console.error(`!!! Redis suites SKIPPED: ${reason} (set TRUCE_TEST_REDIS_URL or install redis-server) !!!`);
  project.provide('truce.redisUrl', null);
  project.provide('truce.redisServer', null);
  return async () => {};
}

/** One PING over a plain socket: the setup needs no client library. */
function checkAnswers(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: hostname, port: Number(port || 6379) });
    let reply = '';
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) socket.end();
    });
    socket.on('close', () =>
      reply.startsWith('+PONG') || reply.startsWith('-NOAUTH')
        ? resolve()
        : reject(new Error(`TRUCE_TEST_REDIS_URL does not answer PING: ${reply.trim() || 'no reply'}`)),
    );
    socket.on('error', (error) =>
      reject(new Error(`TRUCE_TEST_REDIS_URL does not answer: ${error.message}`)),
    );
  });
}
