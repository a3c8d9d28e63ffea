import { expect } from 'vitest';
import type { IdempotencyClaimRequest, StoredResponse } from '../types.js';
import { C, type Harness, commitOk, op } from './harness.suite.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const claim = (over: Partial<IdempotencyClaimRequest> = {}): IdempotencyClaimRequest => ({
  scope: 'ann POST /things',
  key: 'k1',
  fingerprint: 'f1',
  now: T0,
  leaseMs: 30_000,
  expiresAt: T0 + 86_400_000,
  ...over,
});
const answer: StoredResponse = {
  status: 201,
  headers: { location: '/things/a', etag: '"1-x"' },
  body: '{"id":"a"}',
};

/** Idempotency keys (SPEC 3.8): claims are exclusive, answers are stored with the writes they answer. */
export function idempotencyTests(h: Harness): void {
  h.test('a key is claimed once; a second claim sees it in flight, then completed', async (store) => {
    expect(await store.claimIdempotencyKey(claim())).toEqual({ state: 'claimed' });
    expect(await store.claimIdempotencyKey(claim({ now: T0 + 1 }))).toEqual({
      state: 'in-flight',
      lockedUntil: T0 + 30_000,
    });
    await store.completeIdempotencyKey({ scope: claim().scope, key: 'k1', response: answer });
    expect(await store.claimIdempotencyKey(claim({ now: T0 + 2 }))).toEqual({
      state: 'completed',
      response: answer,
    });
  });

  h.test('another fingerprint under a live key is a mismatch; scopes keep keys apart', async (store) => {
    await store.claimIdempotencyKey(claim());
    expect(await store.claimIdempotencyKey(claim({ fingerprint: 'f2' }))).toEqual({ state: 'mismatch' });
    expect(await store.claimIdempotencyKey(claim({ scope: 'bob POST /things' }))).toEqual({
      state: 'claimed',
    });
  });

  h.test('scopes, keys and answers may hold NUL and backslashes, and stay apart', async (store) => {
    const scopes = ['ann\u0000POST /x', 'ann\\0POST /x', 'ann\\\u0000POST /x', 'ann\\POST /x'];
    for (const scope of scopes) {
      expect(await store.claimIdempotencyKey(claim({ scope, key: 'k\u0000' }))).toEqual({ state: 'claimed' });
    }
    const odd: StoredResponse = { status: 200, headers: { a: 'b\u0000' }, body: 'x\u0000\\0\\\\y' };
    await store.completeIdempotencyKey({ scope: scopes[0]!, key: 'k\u0000', response: odd });
    expect(
      await store.claimIdempotencyKey(claim({ scope: scopes[0]!, key: 'k\u0000', now: T0 + 1 })),
    ).toEqual({
      state: 'completed',
      response: odd,
    });
    expect(
      (await store.claimIdempotencyKey(claim({ scope: scopes[1]!, key: 'k\u0000', now: T0 + 1 }))).state,
    ).toBe('in-flight');
    await store.releaseIdempotencyKey(scopes[1]!, 'k\u0000');
    expect(
      (await store.claimIdempotencyKey(claim({ scope: scopes[1]!, key: 'k\u0000', now: T0 + 2 }))).state,
    ).toBe('claimed');
  });

  h.test('of 30 concurrent claims of one key exactly one wins', async (store) => {
    const results = await Promise.all(Array.from({ length: 30 }, () => store.claimIdempotencyKey(claim())));
    expect(results.filter((r) => r.state === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r.state === 'in-flight')).toHaveLength(29);
  });

  h.test(
    'a lapsed claim can be taken over; a released one is free; an expired key is forgotten',
    async (store) => {
      await store.claimIdempotencyKey(claim());
      expect((await store.claimIdempotencyKey(claim({ now: T0 + 30_000 }))).state).toBe('claimed');
      await store.releaseIdempotencyKey(claim().scope, 'k1');
      expect((await store.claimIdempotencyKey(claim({ now: T0 + 30_001 }))).state).toBe('claimed');
      await store.completeIdempotencyKey({ scope: claim().scope, key: 'k1', response: answer });
      await store.releaseIdempotencyKey(claim().scope, 'k1'); // a completed key is not released
      expect((await store.claimIdempotencyKey(claim({ now: T0 + 30_002 }))).state).toBe('completed');
      expect(
        (await store.claimIdempotencyKey(claim({ now: T0 + 86_400_000, fingerprint: 'other' }))).state,
      ).toBe('claimed');
    },
  );

  h.test('the answer commits with the writes: both or neither', async (store) => {
    await store.claimIdempotencyKey(claim());
    const completion = { scope: claim().scope, key: 'k1', response: answer };
    const refused = await store.commit([
      op('a', 0, { n: 1 }),
      op('b', 5, { n: 1 }, { idempotency: completion }),
    ]);
    expect(refused.ok).toBe(false);
    expect(await store.get(C, 'a')).toBeNull();
    expect((await store.claimIdempotencyKey(claim({ now: T0 + 1 }))).state).toBe('in-flight');
    await commitOk(store, [op('a', 0, { n: 1 }), op('b', 0, { n: 1 }, { idempotency: completion })]);
    expect(await store.claimIdempotencyKey(claim({ now: T0 + 2 }))).toEqual({
      state: 'completed',
      response: answer,
    });
  });

  h.test('expired keys are purged in slices', async (store) => {
    for (let i = 0; i < 5; i++)
      await store.claimIdempotencyKey(claim({ key: `p${i}`, expiresAt: T0 + 1000 }));
    await store.claimIdempotencyKey(claim({ key: 'keep', expiresAt: T0 + 5000 }));
    expect(await store.purgeIdempotencyKeys(T0 + 1000, 3)).toBe(3);
    expect(await store.purgeIdempotencyKeys(T0 + 1000, 3)).toBe(2);
    expect(await store.purgeIdempotencyKeys(T0 + 1000, 3)).toBe(0);
    expect((await store.claimIdempotencyKey(claim({ key: 'keep', now: T0 + 1 }))).state).toBe('in-flight');
  });
}

/** Re-deriving a collection's unique keys and references when the configuration changes them. */
export function reindexTests(h: Harness): void {
  h.test(
    'reindex derives keys for documents written before the constraint, or lists collisions',
    async (store) => {
      await commitOk(store, [op('a', 0, { email: 'x@y' }), op('b', 0, { email: 'z@y' })]);
      expect(await store.indexFingerprint(C)).toBeNull();
      const keys = (_id: string, doc: Record<string, unknown>) => ({
        uniqueKeys: [{ constraint: 'email', key: String(doc['email']).toLowerCase() }],
        references: [],
      });
      expect(await store.reindex(C, 'v1', keys)).toEqual({ ok: true, resources: 2 });
      expect(await store.indexFingerprint(C)).toBe('v1');
      // The new index is enforced for the old documents.
      const clash = await store.commit([
        op('c', 0, { email: 'x@y' }, { uniqueKeys: [{ constraint: 'email', key: 'x@y' }] }),
      ]);
      expect(clash).toMatchObject({ ok: false, reason: 'unique-violation', holder: 'a' });
      // Data that breaks a new derivation: nothing changes, the collisions are listed.
      const all = () => ({ uniqueKeys: [{ constraint: 'domain', key: 'y' }], references: [] });
      expect(await store.reindex(C, 'v2', all)).toEqual({
        ok: false,
        collisions: [{ constraint: 'domain', key: 'y', ids: ['a', 'b'] }],
        dangling: [],
      });
      expect(await store.indexFingerprint(C)).toBe('v1');
      const dangling = () => ({
        uniqueKeys: [],
        references: [{ pointer: '/owner', collection: 'people', id: 'nobody' }],
      });
      const result = await store.reindex(C, 'v3', dangling);
      expect(result).toMatchObject({ ok: false, collisions: [], dangling: [{ id: 'a' }, { id: 'b' }] });
    },
  );
}

/** Change-feed retention: pruning never breaks retained history, and the floor says where the feed is whole. */
export function feedRetentionTests(h: Harness): void {
  h.test('pruning keeps what history needs, removes the rest, and raises the floor', async (store) => {
    for (let v = 0; v < 5; v++) await commitOk(store, [op('a', v, { v }, { keepHistory: 2 })]);
    for (let v = 0; v < 3; v++) await commitOk(store, [op('b', v, { v }, { keepHistory: 10 })]);
    expect(await store.feedFloor()).toBe(0);
    const last = await store.lastSeq();
    // a: versions 1-3 are out of its history (keep 2); b keeps all three.
    expect(await store.pruneChanges(last - 1, 100)).toBe(3);
    expect(await store.feedFloor()).toBe(last - 1);
    expect((await store.history(C, 'a', { limit: 10 })).map((r) => r.version)).toStrictEqual([5, 4]);
    expect((await store.history(C, 'b', { limit: 10 })).map((r) => r.version)).toStrictEqual([3, 2, 1]);
    const after = await store.changes({ since: last - 1, limit: 10 });
    expect(after.map((c) => c.seq)).toStrictEqual([last]);
    // Pruning in slices removes no more than asked; the floor never goes down.
    expect(await store.pruneChanges(last - 5, 100)).toBe(0);
    expect(await store.feedFloor()).toBe(last - 1);
  });
}
