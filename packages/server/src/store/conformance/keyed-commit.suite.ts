import { expect } from 'vitest';
import type {
  CommitResult,
  IdempotencyClaimRequest,
  IdempotentCommitResult,
  Store,
  StoredResponse,
} from '../types.js';
import { type Harness, op, write } from './harness.suite.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const claim = (key: string, over: Partial<IdempotencyClaimRequest> = {}): IdempotencyClaimRequest => ({
  scope: 'ann POST /things/c/_increment',
  key,
  fingerprint: 'f1',
  now: T0,
  leaseMs: 30_000,
  expiresAt: T0 + 86_400_000,
  ...over,
});

/** The answer the server would store: the new value, or the refusal's reason. */
function answerOf(result: CommitResult): StoredResponse {
  return result.ok
    ? { status: 200, headers: { etag: result.heads[0]!.etag }, body: JSON.stringify(result.heads[0]!.doc) }
    : { status: 409, headers: {}, body: result.reason };
}

/** A keyed increment of `c.n` by `by` (minimum 0), answered by {@link answerOf}. */
function keyedIncrement(store: Store, key: string, by: number, over: Partial<IdempotencyClaimRequest> = {}) {
  return store.commitIdempotent({
    claim: claim(key, over),
    ops: [op('c', null, null, { increment: { pointer: '/n', by, minimum: 0 } })],
    answer: answerOf,
  });
}

const n = async (store: Store) => (await store.get('things', 'c'))?.doc?.['n'];

/**
 * `commitIdempotent` (SPEC 3.8): the claim of a key, the ops of its request and the answer stored
 * for it in one transaction; calls made together keep their own outcomes, in call order.
 */
export function keyedCommitTests(h: Harness): void {
  h.test(
    'claim, ops and answer commit together; a retry finds the answer and applies nothing',
    async (store) => {
      await write(store, 'c', { n: 0 });
      const first = await keyedIncrement(store, 'k1', 5);
      expect(first).toMatchObject({ state: 'claimed', result: { ok: true, heads: [{ doc: { n: 5 } }] } });
      const stored = answerOf((first as Extract<IdempotentCommitResult, { state: 'claimed' }>).result);
      expect(await keyedIncrement(store, 'k1', 5, { now: T0 + 1 })).toStrictEqual({
        state: 'completed',
        response: stored,
      });
      // The ordinary claim sees the same completed key.
      expect(await store.claimIdempotencyKey(claim('k1', { now: T0 + 2 }))).toStrictEqual({
        state: 'completed',
        response: stored,
      });
      expect(await keyedIncrement(store, 'k1', 5, { fingerprint: 'f2' })).toStrictEqual({
        state: 'mismatch',
      });
      expect(await n(store)).toBe(5);
    },
  );

  h.test('a refused op applies nothing and its refusal is stored; its neighbours commit', async (store) => {
    await write(store, 'c', { n: 2 });
    const results = await Promise.all([
      keyedIncrement(store, 'a', -1),
      keyedIncrement(store, 'b', -5),
      keyedIncrement(store, 'c', -1),
      keyedIncrement(store, 'd', -1),
    ]);
    const outcome = results.map((r) =>
      r.state === 'claimed' ? (r.result.ok ? 'ok' : r.result.reason) : r.state,
    );
    // b can never fit; of the three decrements of 1, two take the 2 and one finds nothing left.
    expect(outcome[1]).toBe('out-of-bounds');
    expect([outcome[0], outcome[2], outcome[3]].sort()).toStrictEqual(['ok', 'ok', 'out-of-bounds']);
    expect(await n(store)).toBe(0);
    expect(await keyedIncrement(store, 'b', -5, { now: T0 + 1 })).toStrictEqual({
      state: 'completed',
      response: { status: 409, headers: {}, body: 'out-of-bounds' },
    });
    const history = await store.history('things', 'c', { limit: 10 });
    expect(history.map((v) => v.doc?.['n'])).toStrictEqual([0, 1, 2]);
  });

  h.test('a key claimed by a running request is in flight; the ops wait for a retry', async (store) => {
    await write(store, 'c', { n: 0 });
    await store.claimIdempotencyKey(claim('k1'));
    expect(await keyedIncrement(store, 'k1', 1, { now: T0 + 1 })).toStrictEqual({
      state: 'in-flight',
      lockedUntil: T0 + 30_000,
    });
    expect(await n(store)).toBe(0);
  });

  h.test('a null answer keeps nothing: the key stays free', async (store) => {
    await write(store, 'c', { n: 0 });
    const result = await store.commitIdempotent({
      claim: claim('k1'),
      ops: [op('missing', null, null, { increment: { pointer: '/n', by: 1 } })],
      answer: () => null,
    });
    expect(result).toMatchObject({ state: 'claimed', result: { ok: false, reason: 'not-found' } });
    expect(await store.claimIdempotencyKey(claim('k1', { now: T0 + 1 }))).toStrictEqual({ state: 'claimed' });
  });

  h.test('an answer that throws undoes the claim and the ops', async (store) => {
    await write(store, 'c', { n: 0 });
    const failing = store.commitIdempotent({
      claim: claim('k1'),
      ops: [op('c', null, null, { increment: { pointer: '/n', by: 1 } })],
      answer: () => {
        throw new Error('no answer');
      },
    });
    await expect(failing).rejects.toThrow('no answer');
    expect(await n(store)).toBe(0);
    expect(await store.claimIdempotencyKey(claim('k1', { now: T0 + 1 }))).toStrictEqual({ state: 'claimed' });
  });

  h.test(
    '200 concurrent keyed increments, each key sent twice: every key applies once',
    async (store) => {
      await write(store, 'c', { n: 0 });
      const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
      const results = await Promise.all(
        keys.flatMap((k) => [keyedIncrement(store, k, 1), keyedIncrement(store, k, 1)]),
      );
      expect(results.filter((r) => r.state === 'claimed')).toHaveLength(200);
      expect(results.every((r) => r.state === 'claimed' || r.state === 'completed')).toBe(true);
      expect(await n(store)).toBe(200);
      expect((await store.get('things', 'c'))?.version).toBe(201);
    },
    60_000,
  );
}
