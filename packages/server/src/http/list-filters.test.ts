import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILTER_LIMITS } from '../resources/read.js';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

// Lists with equality filters through real HTTP: documents PostgreSQL text cannot decode, query input
// it cannot hold, and filters too many for the store's query. Run on PostgreSQL as well
// (TRUCE_TEST_STORE=postgres, docs/testing.md), where the first two once answered 500.

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('collections: { items: {} }');
  // JSON.stringify writes U+0000 and lone surrogates as \u escapes: valid JSON, stored exactly.
  await server.request('/items/nul', json({ name: 'a\u0000b', tag: 'x' }));
  await server.request('/items/surrogate', json({ name: '\ud800', tag: 'x' }));
  await server.request('/items/plain', json({ name: 'plain', tag: 'y' }));
});
afterAll(async () => server.close());

async function ids(path: string): Promise<string[]> {
  const res = await server.request(path);
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: { id: string }[] }).items.map((item) => item.id);
}

async function malformed(path: string): Promise<{ parameter: string; message: string }[]> {
  const res = await server.request(path);
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { code: string; errors: { parameter: string; message: string }[] };
  expect(body.code).toBe('malformed-request');
  return body.errors;
}

describe('documents holding U+0000 or a lone surrogate', () => {
  it('do not break filtered lists of their collection, and match exactly', async () => {
    expect(await ids('/items?tag=x')).toStrictEqual(['nul', 'surrogate']);
    expect(await ids('/items?tag=y')).toStrictEqual(['plain']);
    expect(await ids('/items?name=plain')).toStrictEqual(['plain']);
    expect(await ids('/items?name=a%00b')).toStrictEqual(['nul']);
    expect(await ids('/items?name=a')).toStrictEqual([]);
    const doc = (await (await server.request('/items/surrogate')).json()) as { name: string };
    expect(doc.name).toBe('\ud800');
  });

  it('a NUL in a filter name matches no document that lacks it', async () => {
    expect(await ids('/items?na%00me=plain')).toStrictEqual([]);
  });

  it('a cursor naming an id no resource can have is a 400 naming the cursor', async () => {
    for (const id of ['a\u0000', '\ud800']) {
      const cursor = Buffer.from(JSON.stringify(['items', id]), 'utf8').toString('base64url');
      expect(await malformed(`/items?tag=x&cursor=${cursor}`)).toStrictEqual([
        { parameter: 'cursor', message: 'unknown cursor' },
      ]);
    }
  });
});

describe('filter limits', () => {
  const fieldsQuery = (n: number) => Array.from({ length: n }, (_, i) => `f${i}=1`).join('&');

  it(`${FILTER_LIMITS.fields} fields and ${FILTER_LIMITS.values} values are served`, async () => {
    expect(await ids(`/items?${fieldsQuery(FILTER_LIMITS.fields)}`)).toStrictEqual([]);
    const values = Array.from({ length: FILTER_LIMITS.values }, (_, i) => `tag=${i === 0 ? 'y' : i}`);
    expect(await ids(`/items?${values.join('&')}`)).toStrictEqual(['plain']);
  });

  it('more fields are a 400 naming the first one past the limit', async () => {
    const tooMany = {
      parameter: `f${FILTER_LIMITS.fields}`,
      message: 'a list takes at most 20 filter fields',
    };
    expect(await malformed(`/items?${fieldsQuery(FILTER_LIMITS.fields + 1)}&limit=5`)).toStrictEqual([
      tooMany,
    ]);
    // 999 fields are past both limits, and both are named.
    expect(await malformed(`/items?${fieldsQuery(999)}`)).toStrictEqual([
      tooMany,
      { parameter: `f${FILTER_LIMITS.values}`, message: 'a list takes at most 100 filter values in all' },
    ]);
  });

  it('more values in all are a 400 naming the field that goes past the limit', async () => {
    for (const n of [FILTER_LIMITS.values + 1, 500]) {
      expect(await malformed(`/items?${'tag=x&'.repeat(n)}limit=5`)).toStrictEqual([
        { parameter: 'tag', message: 'a list takes at most 100 filter values in all' },
      ]);
    }
    const split = `a=${Array(60).fill('1').join('&a=')}&b=${Array(41).fill('1').join('&b=')}`;
    expect(await malformed(`/items?${split}`)).toStrictEqual([
      { parameter: 'b', message: 'a list takes at most 100 filter values in all' },
    ]);
  });
});
