import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { CommitResult, IdempotencyClaimRequest, StoredResponse } from '../store/types.js';
import { StagingStore } from './staging.js';

const claim: IdempotencyClaimRequest = {
  scope: 'ann\u0000POST /things/c/_increment',
  key: 'k1',
  fingerprint: 'f1',
  now: 1_000,
  leaseMs: 30_000,
  expiresAt: 1_000 + 86_400_000,
};
const answerOf = (result: CommitResult): StoredResponse =>
  result.ok
    ? { status: 200, headers: {}, body: JSON.stringify(result.heads[0]!.doc) }
    : { status: 409, headers: {}, body: null };

describe('staging view: commitIdempotent', () => {
  it('stages the ops with the answer, which the real commit of the staged writes stores', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const base = { collection: 'things', id: 'c', actor: null, keepHistory: 10 };
    await store.commit([{ ...base, expectVersion: 0, doc: { n: 1 } }]);
    const staging = new StagingStore(store);
    const outcome = await staging.commitIdempotent({
      claim,
      ops: [{ ...base, expectVersion: null, doc: null, increment: { pointer: '/n', by: 2 } }],
      answer: answerOf,
    });
    expect(outcome).toMatchObject({ state: 'claimed', result: { ok: true, heads: [{ doc: { n: 3 } }] } });
    // Nothing is real yet: the key is in flight, the counter untouched.
    expect((await store.get('things', 'c'))?.doc).toStrictEqual({ n: 1 });
    expect((await store.claimIdempotencyKey({ ...claim, now: 1_001 })).state).toBe('in-flight');

    expect((await store.commit(staging.writes.map((w) => w.op))).ok).toBe(true);
    expect((await store.get('things', 'c'))?.doc).toStrictEqual({ n: 3 });
    expect(await store.claimIdempotencyKey({ ...claim, now: 1_002 })).toStrictEqual({
      state: 'completed',
      response: { status: 200, headers: {}, body: '{"n":3}' },
    });
    await store.close();
  });
});
