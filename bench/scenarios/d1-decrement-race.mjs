// D1: the decrements race (SPEC 3.6: `_increment` never lets a value cross its bounds). A round
// creates a product with stock STOCK, then 64 connections send REQUESTS (10% more than the stock)
// `POST /products/{id}/_increment {"pointer":"/stock","by":-1}` as fast as they are answered.
// Exactly STOCK must succeed (200), the rest must get 409 `insufficient`, and the stock must end
// at 0: anything else marks the row invalid. The baseline keeps the stock in memory and answers
// the same statuses; there is no SPEC target, so the row reports throughput and the ratio only.
import { getJson, postJson } from '../lib/resources.mjs';

const STOCK = 1000;
const REQUESTS = STOCK + STOCK / 10;
const DECREMENT = JSON.stringify({ pointer: '/stock', by: -1 });

/** @type {import('./scenario.mjs').Scenario} */
export const d1 = {
  id: 'D1',
  title: `decrements race (_increment by -1, stock ${STOCK}, ${REQUESTS} requests per round), SQLite`,
  kind: 'rounds',
  connections: 64,
  resources: 0,
  sides: {
    baseline: { server: 'baseline', variant: 'products' },
    truce: { server: 'truce', variant: 'products' },
  },
  target: undefined,
  expectedStatus: { baseline: [200, 409], truce: [200, 409] },
  load: { method: 'POST', headers: { 'content-type': 'application/json' }, body: DECREMENT },
  race: { stock: STOCK, requests: REQUESTS },

  /** A fresh product per round, so rounds never share a resource or its history. */
  async prepare(baseUrl, round) {
    const id = `product-${String(round).padStart(4, '0')}`;
    await postJson(baseUrl, '/products', { id, name: 'benchmark product', stock: STOCK }, 201);
    return { id, path: `/products/${id}` };
  },

  requests(product) {
    product.insufficient = 0;
    return [
      {
        path: `${product.path}/_increment`,
        onResponse(status, body) {
          // A 409 counts only as the problem the race should give, not as any conflict.
          if (status === 409 && body.includes('"insufficient"')) product.insufficient += 1;
        },
      },
    ];
  },

  /** What the round left behind: answers by kind, and the stock as the server now reads it. */
  async outcome(baseUrl, product, statusCounts) {
    const { stock } = await getJson(baseUrl, product.path);
    const succeeded = statusCounts[200] ?? 0;
    const { insufficient } = product;
    const problems = [];
    if (succeeded !== STOCK) problems.push(`${succeeded} of ${REQUESTS} decrements succeeded, not ${STOCK}`);
    if (insufficient !== REQUESTS - STOCK) {
      problems.push(`${insufficient} got 409 insufficient, not ${REQUESTS - STOCK}`);
    }
    if (stock !== 0) problems.push(`the stock ended at ${stock}, not 0`);
    return { succeeded, insufficient, finalStock: stock, problems };
  },
};
