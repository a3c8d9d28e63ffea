import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isProblem, TruceProblemError } from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';

/**
 * The SDK's plain operations against the real server with the shop example: every call of SPEC 4's
 * surface, ETag tracking, and problems typed by code.
 */
let shop: TestServer;
beforeAll(async () => {
  shop = await startTestServer(readFileSync(new URL('../examples/shop/truce.yaml', import.meta.url), 'utf8'));
});
afterAll(async () => shop.close());

const client = (actor = 'alice') => createClient({ baseUrl: shop.url, headers: { 'truce-actor': actor } });

describe('reads and writes', () => {
  it('creates, reads conditionally, replaces and patches with the ETag it last saw', async () => {
    const api = client();
    const created = await api.create('products', { id: 'lamp', sku: 'L-1', name: 'Lamp', stock: 3 });
    expect(created.data).toMatchObject({ id: 'lamp', sku: 'L-1', _version: 1, _updatedBy: 'alice' });
    expect(created.etag).toMatch(/^"/);
    expect(api.etagOf('products', 'lamp')).toBe(created.etag);

    const read = await api.get('products', 'lamp');
    expect(read).toEqual(created);

    const replaced = await api.replace('products', 'lamp', { sku: 'L-1', name: 'Desk lamp', stock: 3 });
    expect(replaced.data._version).toBe(2);
    const patched = await api.patch('products', 'lamp', { price: 12 });
    expect(patched.data).toMatchObject({ name: 'Desk lamp', price: 12, _version: 3 });
    const jsonPatched = await api.patch('products', 'lamp', [{ op: 'replace', path: '/price', value: 13 }]);
    expect(jsonPatched.data.price).toBe(13);

    // Another client wrote in between: this one's If-Match is stale.
    await client('bob').patch('products', 'lamp', { price: 14 }, { ifMatch: false });
    const error = await api
      .replace('products', 'lamp', { sku: 'L-1', name: 'Lamp' })
      .catch((e: unknown) => e);
    expect(isProblem(error, 'stale-write')).toBe(true);
    if (!isProblem(error, 'stale-write')) return;
    expect(error.status).toBe(412);
    expect(error.problem.changedBy).toBe('bob');
    expect(error.problem.currentEtag).toBe(api.etagOf('products', 'lamp'));
    expect(error.response.headers.get('link')).toContain('latest-version');
    expect(error).toBeInstanceOf(TruceProblemError);
  });
});
