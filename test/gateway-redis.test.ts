// Two `truce gateway` processes sharing one rate limit through Redis (SPEC 5.1 rateLimitStore, 5.2,
// 5.6): exact in total across both, a refusal using no quota, and a Redis killed mid-test answered
// as docs/gateway.md says (each process decides alone, within the timeout), then shared again.
// AI routes' token budgets (docs/ai.md tokensPerMinute) are shared the same way, workers included.
import type { ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { exited, requireBuild, tempDir } from './helpers.js';
import { startGateway as start, type GatewayProcess } from './support/gateway.js';
import { FakeProviders } from './support/fake-ai.js';
import { describeWithRedis, ownRedis, uniqueName } from './support/redis.js';

const ADMIN_KEY = 'gateway-admin-key-0123456789';
let dir: ReturnType<typeof tempDir>;
let upstream: Server;
let upstreamUrl: string;

beforeAll(async () => {
  requireBuild();
  dir = tempDir('truce-gateway-redis-');
  upstream = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => upstream.close(resolve));
  dir.remove();
});

const children: ChildProcess[] = [];
const startGateway = (file: string) => start(file, children);
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
});

/** A configuration with one rate-limited route per `routes` entry: [name, prefix, limit, window]. */
function config(redis: string, routes: [string, string, number, string][]): string {
  const file = join(dir.path, `${uniqueName('gw-')}.yaml`);
  const lines = routes.map(
    ([name, prefix, limit, window]) =>
      `    - { name: ${name}, match: { prefix: ${prefix} }, upstream: app, rateLimit: { limit: ${limit}, window: ${window}, by: ip } }`,
  );
  writeFileSync(
    file,
    `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "${ADMIN_KEY}" }
  storage: sqlite:${join(dir.path, uniqueName('calls-'))}.db
  rateLimitStore: ${redis}
  upstreams:
    app: { targets: [${upstreamUrl}] }
  routes:
${lines.join('\n')}
`,
  );
  return file;
}

/** One request; a hang fails the test after 5 s instead of stalling it. */
async function call(base: string, path: string) {
  const began = performance.now();
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
  const body = await res.text();
  return { res, body, ms: performance.now() - began };
}

const remaining = (res: Response) => Number(/;r=(\d+);/.exec(res.headers.get('ratelimit') ?? '')?.[1]);

async function metrics(gw: GatewayProcess): Promise<string> {
  const res = await fetch(`${gw.admin}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  return res.text();
}

describeWithRedis('two gateway processes on one Redis', (url) => {
  it('share one limit exactly, concurrent requests included, with the RateLimit fields', async () => {
    const name = uniqueName('shared');
    const file = config(url, [[name, '/a', 10, '1m']]);
    const [one, two] = await Promise.all([startGateway(file), startGateway(file)]);

    for (let i = 0; i < 6; i++) {
      const { res } = await call(i % 2 ? two.proxy : one.proxy, '/a/x');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe(`"${name}";q=10;w=60`);
      expect(res.headers.get('ratelimit')).toMatch(new RegExp(`^"${name}";r=${9 - i};t=\\d+$`));
    }
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => call(i % 2 ? two.proxy : one.proxy, '/a/x')),
    );
    const passed = answers.filter((a) => a.res.status === 200);
    expect(passed, `${one.output()}\n${two.output()}`).toHaveLength(4);
    expect(passed.map((a) => remaining(a.res)).sort()).toEqual([0, 1, 2, 3]);
    for (const { res, body } of answers.filter((a) => a.res.status !== 200)) {
      expect(res.status).toBe(429);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(JSON.parse(body)).toMatchObject({ code: 'rate-limited', limit: 10, window: 60 });
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(6);
      expect(res.headers.get('ratelimit-policy')).toBe(`"${name}";q=10;w=60`);
      expect(res.headers.get('ratelimit')).toBe(`"${name}";r=0;t=${retryAfter}`);
    }
  });

  it('use no quota for refused requests', async () => {
    const name = uniqueName('refused');
    // 3 a minute: once the burst is spent, the next request may pass in 20 s.
    const file = config(url, [[name, '/b', 3, '1m']]);
    const [one, two] = await Promise.all([startGateway(file), startGateway(file)]);
    const via = (i: number) => (i % 2 ? two.proxy : one.proxy);
    for (let i = 0; i < 3; i++) expect((await call(via(i), '/b')).res.status).toBe(200);
    const redis = new Redis(url);
    try {
      const key = `truce:rl:${name}:ip:127.0.0.1`;
      const before = await redis.get(key);
      expect(before).not.toBeNull();
      const refused = await Promise.all(Array.from({ length: 30 }, (_, i) => call(via(i), '/b')));
      expect(
        refused.map((a) => a.res.status).filter((s) => s !== 429),
        `${one.output()}\n${two.output()}`,
      ).toEqual([]);
      // Had the refusals counted, the bucket's time would have moved 30 intervals (10 minutes) on.
      expect(await redis.get(key)).toBe(before);
      const waits = refused.map((a) => Number(a.res.headers.get('retry-after')));
      expect(Math.max(...waits)).toBeLessThanOrEqual(20);
    } finally {
      redis.disconnect();
    }
  });

  it('decide per process within the timeout while Redis is down, and share again once it is back', async (ctx) => {
    const redis = await ownRedis();
    if (redis === null)
      return ctx.skip(
        'no redis-server binary here to start and kill a Redis of its own (the run uses an external one)',
      );
    let restarted: Awaited<ReturnType<typeof ownRedis>> = null;
    try {
      const name = uniqueName('outage');
      const file = config(redis.url, [[name, '/c', 4, '1m']]);
      const [one, two] = await Promise.all([startGateway(file), startGateway(file)]);
      expect((await call(one.proxy, '/c')).res.status).toBe(200);
      expect(remaining((await call(two.proxy, '/c')).res)).toBe(2);

      process.kill(redis.pid, 'SIGKILL');
      for (const gw of [one, two]) {
        // Each process alone, from a fresh bucket: 4 pass, then 429, none waiting on Redis.
        const answers = [];
        for (let i = 0; i < 6; i++) answers.push(await call(gw.proxy, '/c'));
        expect(answers.map((a) => a.res.status)).toEqual([200, 200, 200, 200, 429, 429]);
        // At most the command timeout (1 s), with room for a loaded test machine.
        for (const a of answers) expect(a.ms).toBeLessThan(2_500);
        const text = await metrics(gw);
        expect(text).toMatch(
          new RegExp(`truce_gateway_rate_limit_fallback_total\\{route="${name}"\\} [1-9]`),
        );
        expect(text).toContain('truce_gateway_rate_limit_store_up 0');
        // The line goes to stderr when the failure is seen; the pipe may deliver it a moment later.
        for (let i = 0; i < 100 && !gw.output().includes('rate limits are kept per process'); i++)
          await new Promise((resolve) => setTimeout(resolve, 50));
        expect(gw.output()).toContain('rate limits are kept per process');
      }

      restarted = await ownRedis(redis.port);
      for (const gw of [one, two]) {
        for (let i = 0; i < 100 && !(await metrics(gw)).includes('store_up 1'); i++)
          await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await metrics(gw)).toContain('truce_gateway_rate_limit_store_up 1');
      }
      // Past the pause after a failure; Redis kept nothing (no persistence): one fresh shared bucket.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const after = [];
      for (let i = 0; i < 6; i++) after.push((await call(i % 2 ? two.proxy : one.proxy, '/c')).res.status);
      expect(after).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      await redis.stop();
      await restarted?.stop();
    }
  });
});

/**
 * One chat call on a connection of its own, so that successive calls to a gateway with several
 * workers are spread over them (Node's cluster hands out connections in turn).
 */
function chatOnce(
  base: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const body = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hello' }] });
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method: 'POST',
        agent: false,
        timeout: 5_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

describeWithRedis('token budgets of AI routes on one Redis', (url) => {
  let fake: FakeProviders;
  beforeAll(async () => {
    fake = await new FakeProviders().start();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('are one budget across a gateway process and another one with two workers', async () => {
    const name = uniqueName('ai');
    const file = join(dir.path, `${uniqueName('gw-ai-')}.yaml`);
    const yaml = (workers: number) => `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "${ADMIN_KEY}" }
  storage: sqlite:${join(dir.path, uniqueName('calls-'))}.db
  rateLimitStore: ${url}
  workers: ${workers}
  routes:
    - name: ${name}
      match: { prefix: /ai }
      stripPrefix: true
      ai:
        providers:
          openai: { type: openai, baseUrl: ${fake.baseUrl('openai')}, key: sk-test }
        models:
          fast: [openai/gpt-4o-mini]
        tokensPerMinute: 10
`;
    writeFileSync(file, yaml(1));
    const workersFile = file.replace(/\.yaml$/, '-2.yaml');
    writeFileSync(workersFile, yaml(2));
    const [one, two] = await Promise.all([startGateway(file), startGateway(workersFile)]);
    // 2 tokens a call, 10 a minute (6 s a token, more than this test takes): five calls pass,
    // wherever they land, and each sees what the ones before it took.
    fake.reply('openai', ...Array.from({ length: 5 }, () => ({ usage: { input: 1, output: 1 } })));
    const via = [one, two, two, one, two, two, one];
    const answers = [];
    for (const gw of via) answers.push(await chatOnce(gw.proxy, '/ai/v1/chat/completions'));
    const log = `${one.output()}\n${two.output()}`;
    expect(
      answers.map((a) => a.status),
      log,
    ).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(answers.slice(0, 5).map((a) => a.headers['ratelimit'])).toEqual(
      [10, 8, 6, 4, 2].map((r) => expect.stringMatching(new RegExp(`^"${name}-tokens";r=${r};t=\\d+$`))),
    );
    for (const refused of answers.slice(5)) {
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'rate-limited', unit: 'tokens', limit: 10 });
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(6);
    }
    expect(fake.requests).toHaveLength(5);

    // The process with two workers served its calls from both of them (call ids name the process).
    let ids: string[] = [];
    for (let i = 0; i < 50 && ids.length < 4; i++) {
      const res = await fetch(`${two.admin}/calls?limit=10`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      ids = ((await res.json()) as { items: { id: string }[] }).items.map((c) => c.id);
      if (ids.length < 4) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(ids).toHaveLength(4);
    expect(new Set(ids.map((id) => id.split('-')[1])).size).toBe(2);

    const redis = new Redis(url);
    try {
      const ttl = await redis.pttl(`truce:tpm:${name}:ip:127.0.0.1`);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      redis.disconnect();
    }
  });
});
