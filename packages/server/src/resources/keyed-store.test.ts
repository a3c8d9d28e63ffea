import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { IdempotencyClaimRequest, Store } from '../store/types.js';
import { KeyDecided, KeyedStaging, KeyGate } from './keyed-store.js';

const claim = (key: string): IdempotencyClaimRequest => ({
  scope: 'ann\u0000POST /items/a/_transitions/close',
  key,
  fingerprint: 'f',
  now: 1_000,
  leaseMs: 30_000,
  expiresAt: 100_000,
});

describe('KeyedStaging', () => {
  let store: Store;
  afterEach(async () => store.close());

  it('claims the key before a unique-key read (a broken rule reads the holders)', async () => {
    store = openSqliteStore({ path: ':memory:' });
    const gate = new KeyGate(store, claim('k1'), 'items/a');
    const staging = new KeyedStaging(store, gate);
    expect(await staging.uniqueKeyHolders('items', [{ constraint: 'sku', key: 'x' }])).toEqual([]);
    expect(gate.claimed).toBe(true);
    expect(gate.untouched).toBe(false);
    expect((await store.claimIdempotencyKey(claim('k1'))).state).toBe('in-flight');
    gate.leave();
  });

  it('a taken key stops the read', async () => {
    store = openSqliteStore({ path: ':memory:' });
    await store.claimIdempotencyKey(claim('k2'));
    const gate = new KeyGate(store, claim('k2'), 'items/a');
    const staging = new KeyedStaging(store, gate);
    await expect(staging.uniqueKeyHolders('items', [{ constraint: 'sku', key: 'x' }])).rejects.toBeInstanceOf(
      KeyDecided,
    );
    expect(gate.decided?.state).toBe('in-flight');
  });
});
