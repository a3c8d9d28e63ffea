import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';
import { PAGE_BYTES } from '../resources/paging.js';
import { MAX_RESULT_BYTES } from './budget.js';

/* The results of one batch are bounded in bytes (issue 10, item 2). */

let server: TestServer;
const SIZE = 900_000;
const big = (tag: string) => ({ text: tag.repeat(SIZE / tag.length) });
/** Enough resources of SIZE bytes that reading them all crosses MAX_RESULT_BYTES. */
const COUNT = Math.ceil(MAX_RESULT_BYTES / SIZE) + 1;
const reads = Array.from({ length: COUNT }, (_, i) => ({ method: 'GET', path: `/docs/b${i}` }));

interface Outcome {
  status: number;
  headers: Record<string, string>;
  body?: { code?: string; limit?: number; text?: string };
}

beforeAll(async () => {
  server = await startTestServer('collections: { docs: {} }');
  for (let i = 0; i < COUNT; i++) {
    const res = await server.request(`/docs/b${i}`, json(big(`b${i}`)));
    expect(res.status).toBe(201);
    await res.arrayBuffer();
  }
}, 60_000);
afterAll(() => server.close());

const batch = (body: unknown) => server.request('/_batch', json(body, {}, 'POST'));

describe('batch results are bounded in bytes', () => {
  it('non-atomic: a read that does not fit gets results-too-large, a write keeps its status and headers, later operations still run', async () => {
    const res = await batch({
      atomic: false,
      operations: [
        ...reads,
        { method: 'PUT', path: '/docs/written', body: big('w') },
        { method: 'PUT', path: '/docs/small', body: { n: 1 } },
      ],
    });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: Outcome[] };
    const refused = results.findIndex((r) => r.status === 413);
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(COUNT);
    for (const r of results.slice(0, refused)) expect(r.body?.text).toHaveLength(SIZE);
    for (const r of results.slice(refused, COUNT)) {
      expect(r).toMatchObject({ status: 413, body: { code: 'results-too-large', limit: MAX_RESULT_BYTES } });
    }
    // The large write happened: its result says so (status, ETag, Location) without its body.
    const written = results[COUNT]!;
    expect(written.status).toBe(201);
    expect(written.headers['etag']).toMatch(/^"/);
    expect(written.body).toBeUndefined();
    const read = await server.request('/docs/written');
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe(written.headers['etag']);
    expect(((await read.json()) as { text: string }).text).toHaveLength(SIZE);
    // A small result still fits after the budget ran out for large ones.
    expect(results[COUNT + 1]).toMatchObject({ status: 201, body: { n: 1 } });
    // What a batch answers stays near the budget however much it reads.
    expect(Buffer.byteLength(JSON.stringify(results))).toBeLessThan(MAX_RESULT_BYTES + 64 * 1024);
  });

  it('atomic: a batch whose results would not fit is refused whole, and nothing is written', async () => {
    const res = await batch({
      operations: [{ method: 'PUT', path: '/docs/atomic', body: { n: 1 } }, ...reads],
    });
    expect(res.status).toBe(413);
    const problem = (await res.json()) as { code: string; limit: number; operationIndex: number };
    expect(problem.code).toBe('results-too-large');
    expect(problem.limit).toBe(MAX_RESULT_BYTES);
    expect(problem.operationIndex).toBeGreaterThan(1);
    const missing = await server.request('/docs/atomic');
    expect(missing.status).toBe(404);
    await missing.body?.cancel();
    // The same batch without its reads commits.
    const ok = await batch({ operations: [{ method: 'PUT', path: '/docs/atomic', body: { n: 1 } }] });
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
  });

  it('list reads inside a batch are one byte-capped page each', async () => {
    const res = await batch({
      atomic: false,
      operations: Array.from({ length: 5 }, () => ({ method: 'GET', path: '/docs?limit=1000' })),
    });
    const { results } = (await res.json()) as {
      results: { status: number; body: { items: unknown[]; next: string } }[];
    };
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(Buffer.byteLength(JSON.stringify(r.body.items))).toBeLessThanOrEqual(PAGE_BYTES);
      expect(r.body.next).toEqual(expect.any(String));
    }
  });
});
