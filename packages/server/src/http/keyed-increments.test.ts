import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

// Keyed increments of one hot counter (issue 10 item 23): the SDK sends an Idempotency-Key with
// every increment, and those of one resource share a group commit (claim, increment and stored
// answer in one transaction). Runs on SQLite and, with TRUCE_TEST_STORE=postgres, on PostgreSQL.

const CONFIG = `
collections:
  products:
    schema: { type: object, properties: { stock: { type: integer, minimum: 0 } } }
  guarded:
    requirePreconditions: true
    schema: { type: object, properties: { stock: { type: integer, minimum: 0 } } }
`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(CONFIG);
});
afterAll(async () => {
  await server?.close();
});

interface Answer {
  readonly status: number;
  readonly etag: string | null;
  readonly replayed: boolean;
  readonly body: string;
}

async function increment(
  path: string,
  by: number,
  key: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await server.request(
    `${path}/_increment`,
    json({ pointer: '/stock', by }, { 'idempotency-key': key, 'truce-actor': 'sdk', ...headers }, 'POST'),
  );
  return {
    status: res.status,
    etag: res.headers.get('etag'),
    replayed: res.headers.get('idempotent-replayed') === 'true',
    body: await res.text(),
  };
}

async function current(path: string): Promise<{ stock: number; _version: number }> {
  return (await (await server.request(path)).json()) as { stock: number; _version: number };
}

/** Runs `clients` loops at once, each making `each` calls one after the other. */
async function clients<T>(
  count: number,
  each: number,
  call: (c: number, n: number) => Promise<T>,
): Promise<T[]> {
  const all = await Promise.all(
    Array.from({ length: count }, async (_, c) => {
      const out: T[] = [];
      for (let n = 0; n < each; n++) out.push(await call(c, n));
      return out;
    }),
  );
  return all.flat();
}

describe('keyed increments of one counter', () => {
  it('32 clients x 10 keyed increments: the total is exact, every answer is a distinct version, and replays change nothing', async () => {
    await server.request('/products/hot', json({ stock: 0 }));
    const answers = await clients(32, 10, (c, n) => increment('/products/hot', 1, `hot-${c}-${n}`));
    expect(answers.every((a) => a.status === 200 && !a.replayed)).toBe(true);
    // Each answer is the version its own increment produced: 320 distinct values and ETags.
    const stocks = answers.map((a) => (JSON.parse(a.body) as { stock: number }).stock);
    expect(new Set(stocks).size).toBe(320);
    expect(new Set(answers.map((a) => a.etag)).size).toBe(320);
    expect(await current('/products/hot')).toMatchObject({ stock: 320, _version: 321 });

    // Every retry, all at once, gets its stored answer back and applies nothing.
    const replays = await clients(32, 10, (c, n) => increment('/products/hot', 1, `hot-${c}-${n}`));
    replays.forEach((r, i) => {
      expect(r).toStrictEqual({ ...answers[i], replayed: true });
    });
    expect(await current('/products/hot')).toMatchObject({ stock: 320, _version: 321 });
  }, 60_000);

  it('an increment that would go below the minimum fails alone, its refusal is stored, and its neighbours commit', async () => {
    await server.request('/products/scarce', json({ stock: 10 }));
    // 40 concurrent keyed decrements of a stock of 10: exactly 10 succeed.
    const answers = await clients(40, 1, (c) => increment('/products/scarce', -1, `take-${c}`));
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 409);
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(30);
    for (const r of refused) expect((JSON.parse(r.body) as { code: string }).code).toBe('insufficient');
    expect(await current('/products/scarce')).toMatchObject({ stock: 0, _version: 11 });

    // Stock arrives; a refused request retried with its key is still refused (its answer was stored).
    await increment('/products/scarce', 5, 'restock');
    const retried = await clients(40, 1, (c) => increment('/products/scarce', -1, `take-${c}`));
    retried.forEach((r, i) => {
      expect(r).toStrictEqual({ ...answers[i], replayed: true });
    });
    expect(await current('/products/scarce')).toMatchObject({ stock: 5, _version: 12 });
  }, 60_000);

  it('the same key sent many times at once applies once; the others replay or are told it is running', async () => {
    await server.request('/products/dup', json({ stock: 0 }));
    const answers = await clients(24, 1, () => increment('/products/dup', 1, 'only-once'));
    const first = answers.filter((a) => a.status === 200 && !a.replayed);
    expect(first).toHaveLength(1);
    for (const a of answers) {
      if (a.status === 200) expect(a.body).toBe(first[0]!.body);
      else expect((JSON.parse(a.body) as { code: string }).code).toBe('idempotency-in-flight');
    }
    expect(await current('/products/dup')).toMatchObject({ stock: 1, _version: 2 });
    // The same key with another payload is another request: 422.
    expect((await increment('/products/dup', 2, 'only-once')).status).toBe(422);
  });

  it('keyed increments on the staged path (If-Match) and the one-commit path mix without losing any', async () => {
    await server.request('/products/mixed', json({ stock: 0 }));
    const answers = await clients(16, 6, async (c, n) => {
      if (c % 4 !== 0) return increment('/products/mixed', 1, `blind-${c}-${n}`);
      // A conditional increment: read the ETag, then send it; a stale one is 412, which is retried.
      for (let attempt = 0; ; attempt++) {
        const etag = (await server.request('/products/mixed')).headers.get('etag')!;
        const a = await increment('/products/mixed', 1, `cond-${c}-${n}-${attempt}`, { 'if-match': etag });
        if (a.status !== 412) return a;
      }
    });
    expect(answers.filter((a) => a.status !== 200)).toStrictEqual([]);
    expect(await current('/products/mixed')).toMatchObject({ stock: 96, _version: 97 });
  }, 60_000);

  it('a keyed increment refused before any write (404, 428) keeps its answer for its retries', async () => {
    const missing = await increment('/products/nowhere', 1, 'missing-1');
    expect(missing.status).toBe(404);
    await server.request('/products/nowhere', json({ stock: 0 }));
    // Created since, but the key answers what it answered.
    expect(await increment('/products/nowhere', 1, 'missing-1')).toStrictEqual({
      ...missing,
      replayed: true,
    });
    expect((await current('/products/nowhere')).stock).toBe(0);

    await server.request('/guarded/g', json({ stock: 0 }, { 'if-none-match': '*' }));
    const unconditional = await increment('/guarded/g', 1, 'guarded-1');
    expect(unconditional.status).toBe(428);
    expect(await increment('/guarded/g', 1, 'guarded-1')).toStrictEqual({ ...unconditional, replayed: true });
  });
});
