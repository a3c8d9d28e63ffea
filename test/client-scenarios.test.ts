import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isProblem, type Conflict } from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { startProxy, type Proxy } from './client-proxy.js';

/**
 * SPEC 8 scenarios 12 and 17 end to end, with SDK clients against the shop example (docs/client.md
 * has them as recipes).
 */
const SHOP = readFileSync(new URL('../examples/shop/truce.yaml', import.meta.url), 'utf8');

let shop: TestServer;
let proxy: Proxy;
beforeAll(async () => {
  shop = await startTestServer(SHOP);
  proxy = await startProxy(shop.url);
});
afterAll(async () => {
  await proxy.close();
  await shop.close();
});

interface Doc {
  title?: string;
  body?: string;
  tags?: string[];
  items?: { sku: string; quantity?: number }[];
}

const person = (name: string) =>
  createClient<{ documents: Doc; products: { sku: string; name: string; stock?: number } }>({
    baseUrl: shop.url,
    headers: { 'truce-actor': name },
  });

describe('12. two people edit one document', () => {
  it('merges disjoint edits by themselves and hands overlapping ones, every field, to the resolver', async () => {
    const alice = person('alice');
    await alice.create('documents', {
      id: 'plan',
      title: 'Launch plan',
      body: 'Goals\nBudget: 10k\nDate: May\n',
      tags: ['draft'],
      items: [
        { sku: 'A-1', quantity: 1 },
        { sku: 'B-2', quantity: 2 },
      ],
    });
    const bob = person('bob');
    const carol = person('carol');
    // All three open version 1.
    await Promise.all([bob.get('documents', 'plan'), carol.get('documents', 'plan')]);
    const never = (): never => {
      throw new Error('disjoint edits must merge by themselves');
    };

    const a = await alice.update(
      'documents',
      'plan',
      (doc) => {
        doc.title = 'Launch plan (v2)';
        doc.body = 'Goals\nBudget: 12k\nDate: May\n';
      },
      { resolve: never },
    );
    expect(a).toMatchObject({ rounds: 1, merged: false });

    const b = await bob.update(
      'documents',
      'plan',
      (doc) => {
        doc.body = 'Goals\nBudget: 10k\nDate: June\n';
        doc.tags!.push('q2');
        doc.items![1]!.quantity = 3;
        doc.items!.push({ sku: 'C-3', quantity: 1 });
      },
      { resolve: never },
    );
    expect(b).toMatchObject({ rounds: 1, merged: true });
    expect(b.data).toMatchObject({
      title: 'Launch plan (v2)',
      body: 'Goals\nBudget: 12k\nDate: June\n',
      tags: ['draft', 'q2'],
      items: [
        { sku: 'A-1', quantity: 1 },
        { sku: 'B-2', quantity: 3 },
        { sku: 'C-3', quantity: 1 },
      ],
    });

    let asked: readonly Conflict[] = [];
    const c = await carol.update(
      'documents',
      'plan',
      (doc) => {
        doc.title = 'Spring launch';
        doc.body = 'Goals\nBudget: 15k\nDate: May\n';
        doc.tags!.push('urgent');
        doc.items![1]!.quantity = 5;
      },
      {
        resolve: async (conflicts, context) => {
          asked = conflicts;
          // Carol decides: her title and budget, bob's date and quantity.
          return context.choose({
            '/title': 'ours',
            '/body': { value: 'Goals\nBudget: 15k\nDate: June\n' },
            '/items/1/quantity': 'theirs',
          });
        },
      },
    );
    expect(asked).toEqual([
      {
        pointer: '/title',
        base: 'Launch plan',
        ours: 'Spring launch',
        theirs: 'Launch plan (v2)',
        changedBy: 'alice',
        changedAt: a.data._updatedAt,
      },
      {
        pointer: '/body',
        base: 'Goals\nBudget: 10k\nDate: May\n',
        ours: 'Goals\nBudget: 15k\nDate: May\n',
        theirs: 'Goals\nBudget: 12k\nDate: June\n',
        changedBy: 'bob',
        changedAt: b.data._updatedAt,
      },
      {
        pointer: '/items/1/quantity',
        base: 2,
        ours: 5,
        theirs: 3,
        changedBy: 'bob',
        changedAt: b.data._updatedAt,
      },
    ]);
    expect(c).toMatchObject({ rounds: 2, merged: true, conflicts: 3 });
    expect(c.data).toMatchObject({
      title: 'Spring launch',
      body: 'Goals\nBudget: 15k\nDate: June\n',
      tags: ['draft', 'q2', 'urgent'],
      items: [
        { sku: 'A-1', quantity: 1 },
        { sku: 'B-2', quantity: 3 },
        { sku: 'C-3', quantity: 1 },
      ],
      _version: 4,
      _updatedBy: 'carol',
    });
    // Carol's client merged as the server does because the server publishes its merge policy.
    const schema = (await (await fetch(`${shop.url}/documents/_schema`)).json()) as Record<string, unknown>;
    expect(schema['x-truce-merge']).toEqual({ arrays: { '/tags': null, '/items': 'sku' }, text: ['/body'] });
  });
});

describe('17. transient busy answers are retried with backoff; conflicts are not blindly re-sent', () => {
  it('retries 503 + Retry-After (seconds, then a date) with one Idempotency-Key, then succeeds', async () => {
    const date = new Date();
    proxy.seen.length = 0;
    proxy.rule = (_r, i) =>
      i < 2
        ? {
            kind: 'answer',
            status: 503,
            headers:
              i === 0
                ? { 'retry-after': '1' }
                : { 'retry-after': new Date(date.getTime() + 3000).toUTCString(), date: date.toUTCString() },
            body: {
              type: '/_problems/busy',
              title: 'Busy',
              status: 503,
              detail: 'try later',
              code: 'busy',
              retryable: true,
              resolution: 'wait-and-retry',
            },
          }
        : { kind: 'forward' };
    const waits: number[] = [];
    const api = createClient<{ products: { sku: string; name: string; stock?: number } }>({
      baseUrl: proxy.url,
      headers: { 'truce-actor': 'till' },
      timers: { sleep: async (ms) => void waits.push(ms) },
    });
    const created = await api.create('products', { sku: 'S17', name: 'Busy day', stock: 1 });
    expect(created.data).toMatchObject({ sku: 'S17', _version: 1 });
    expect(waits).toEqual([1000, 3000]);
    expect(proxy.seen.map((r) => r.headers['idempotency-key'])).toEqual(
      Array(3).fill(proxy.seen[0]!.headers['idempotency-key']),
    );
    // Exactly one product was created.
    expect((await api.list('products', { filter: { sku: 'S17' } })).items).toHaveLength(1);
  });

  it('never re-sends a refused write: a stale one goes through re-read and merge instead', async () => {
    proxy.rule = () => ({ kind: 'forward' });
    const api = createClient<{ products: { sku: string; name: string; stock?: number } }>({
      baseUrl: proxy.url,
      headers: { 'truce-actor': 'till' },
    });
    const p = await api.create('products', { sku: 'S17-B', name: 'Shelf', stock: 5 });
    await person('bob').patch('products', p.data.id, { name: 'Shelf (oak)' }, { ifMatch: false });
    proxy.seen.length = 0;
    const stale = await api.patch('products', p.data.id, { stock: 4 }).catch((e: unknown) => e);
    expect(isProblem(stale, 'stale-write')).toBe(true);
    expect(proxy.seen).toHaveLength(1);

    await person('bob').patch('products', p.data.id, { name: 'Shelf (pine)' }, { ifMatch: false });
    proxy.seen.length = 0;
    const updated = await api.update('products', p.data.id, (doc) => void (doc.stock = (doc.stock ?? 0) - 1));
    expect(updated.data).toMatchObject({ name: 'Shelf (pine)', stock: 4 });
    const sent = proxy.seen.filter((r) => r.method === 'PUT');
    const [first, second] = sent;
    expect(sent).toHaveLength(2);
    // The second write is a new request: based on the current version, with its own key.
    expect(second!.headers['if-match']).not.toBe(first!.headers['if-match']);
    expect(second!.headers['idempotency-key']).not.toBe(first!.headers['idempotency-key']);
  });
});
