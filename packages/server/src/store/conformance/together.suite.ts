import { expect } from 'vitest';
import type { CommitResult, Head, UniqueKey } from '../types.js';
import { C, type Harness, allChanges, allHistory, op, snapshot, write } from './harness.suite.js';

const email = (key: string): UniqueKey => ({ constraint: 'email', key });

/** The heads of a successful result; fails the test on anything else. */
function headsOf(outcome: PromiseSettledResult<CommitResult>): readonly Head[] {
  if (outcome.status !== 'fulfilled' || !outcome.value.ok) {
    throw new Error(`Expected a successful commit, got ${JSON.stringify(outcome)}`);
  }
  return outcome.value.heads;
}

/**
 * `commit` calls made at the same moment, with no wait between them: an adapter may run them in
 * one transaction (SQLite's group commit does), but each call keeps its own outcome. A refused or
 * failing call leaves no trace and takes no other call down; a call's ops stay all or nothing; and
 * a call settles only once what it wrote can be read.
 *
 * The outcomes here do not depend on the order the calls run in, which an adapter with concurrent
 * transactions does not promise; adapter tests may check the order they do promise.
 */
export function togetherTests(h: Harness): void {
  h.test('calls made together each get their own result', async (store) => {
    await write(store, 'stale', { n: 1 });
    const stale = await write(store, 'stale', { n: 2 });
    await write(store, 'holder', { n: 1 }, { uniqueKeys: [email('a@x')] });
    const counter = await write(store, 'counter', { stock: 1 });
    const before = await snapshot(store, ['stale', 'holder', 'counter', 'taker', 'ghost']);

    const outcomes = await Promise.allSettled([
      store.commit([op('new-1', 0, { n: 1 })]),
      store.commit([op('stale', 1, { n: 'stale' })]),
      store.commit([op('taker', 0, { n: 1 }, { uniqueKeys: [email('a@x')] })]),
      store.commit([op('new-2', 0, { n: 2 }, { actor: 'bob' })]),
      store.commit([op('counter', null, null, { increment: { pointer: '/stock', by: -2, minimum: 0 } })]),
      // Deleting what does not exist is a caller error: this call is rejected.
      store.commit([op('ghost', 0, null)]),
      store.commit([op('new-3', 0, { n: 3 }, { uniqueKeys: [email('b@x')] })]),
    ]);

    const written: Head[] = [outcomes[0], outcomes[3], outcomes[6]].map((o) => headsOf(o!)[0]!);
    expect(written.map((head) => [head.id, head.version, head.doc, head.updatedBy])).toEqual([
      ['new-1', 1, { n: 1 }, null],
      ['new-2', 1, { n: 2 }, 'bob'],
      ['new-3', 1, { n: 3 }, null],
    ]);
    expect(outcomes[1]).toStrictEqual({
      status: 'fulfilled',
      value: { ok: false, index: 0, reason: 'version-mismatch', current: stale },
    });
    expect(outcomes[2]).toStrictEqual({
      status: 'fulfilled',
      value: {
        ok: false,
        index: 0,
        reason: 'unique-violation',
        constraint: 'email',
        key: 'a@x',
        holder: 'holder',
      },
    });
    expect(outcomes[4]).toStrictEqual({
      status: 'fulfilled',
      value: {
        ok: false,
        index: 0,
        reason: 'out-of-bounds',
        value: 1,
        bound: 'minimum',
        limit: 0,
        current: counter,
      },
    });
    expect(outcomes[5]?.status).toBe('rejected');

    // The refused and failed calls wrote nothing; the others are there, heads, history and feed.
    expect(await snapshot(store, ['stale', 'holder', 'counter', 'taker', 'ghost'])).toStrictEqual({
      ...(before as object),
      changes: expect.any(Array),
      lastSeq: expect.any(Number),
    });
    for (const head of written) {
      expect(await store.get(C, head.id)).toStrictEqual(head);
      expect((await allHistory(store, head.id)).map((v) => v.etag)).toStrictEqual([head.etag]);
    }
    const added = (await allChanges(store)).slice(-3);
    expect(added.map((c) => c.id).sort()).toStrictEqual(['new-1', 'new-2', 'new-3']);
    expect(await store.lastSeq()).toBe(added[2]?.seq);
    expect(await allChanges(store)).toHaveLength(4 + 3);
  });

  h.test('a multi-op call stays all or nothing among calls made together', async (store) => {
    await write(store, 'b', { n: 1 });
    await write(store, 'holder', { n: 1 }, { uniqueKeys: [email('a@x')] });
    const before = await snapshot(store, ['b', 'm1', 'm2']);
    const [first, multi, last] = await Promise.all([
      store.commit([op('x1', 0, { n: 1 })]),
      // Two ops write, then the third is refused: the first two must be undone, and only they.
      store.commit([
        op('m1', 0, { n: 1 }),
        op('b', 1, { n: 2 }),
        op('m2', 0, { n: 1 }, { uniqueKeys: [email('a@x')] }),
      ]),
      store.commit([op('x2', 0, { n: 1 }), op('x3', 0, { n: 1 })]),
    ]);
    expect(multi).toMatchObject({ ok: false, index: 2, reason: 'unique-violation', holder: 'holder' });
    expect(first.ok && last.ok).toBe(true);
    expect(await snapshot(store, ['b', 'm1', 'm2'])).toStrictEqual({
      ...(before as object),
      changes: expect.any(Array),
      lastSeq: expect.any(Number),
    });
    const added = (await allChanges(store)).slice(2).map((c) => c.id);
    expect(added.sort()).toStrictEqual(['x1', 'x2', 'x3']);
  });

  h.test('a call settles only once what it wrote can be read', async (store) => {
    const seen = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.commit([op(`r${i}`, 0, { i })]).then(async (result) => ({
          result,
          head: await store.get(C, `r${i}`),
          history: await allHistory(store, `r${i}`),
          changes: await allChanges(store),
        })),
      ),
    );
    for (const { result, head, history, changes } of seen) {
      if (!result.ok) throw new Error('expected the commit to succeed');
      const [written] = result.heads;
      expect(head).toStrictEqual(written);
      expect(history.map((v) => v.etag)).toStrictEqual([written?.etag]);
      expect(changes.filter((c) => c.id === written?.id)).toHaveLength(1);
    }
  });

  h.test('200 calls made together on 20 resources: one chain of versions per resource', async (store) => {
    const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
    for (const id of ids) await write(store, id, { n: 0 });
    // Ten calls per resource, all based on version 1 or 2: most must lose, and how many win
    // depends on the order the adapter runs them in, but never more than one per version.
    const calls = ids.flatMap((id, i) =>
      Array.from({ length: 10 }, (_, k) => ({ id, expect: 1 + ((i + k) % 2), k })),
    );
    const results = await Promise.all(
      calls.map((c) => store.commit([op(c.id, c.expect, { n: c.expect, k: c.k })])),
    );
    for (const id of ids) {
      const mine = calls.map((c, i) => ({ ...c, result: results[i]! })).filter((c) => c.id === id);
      const winners = mine.filter((c) => c.result.ok);
      // Version 2 can be written once, and version 3 once, on top of it.
      expect(winners.length).toBeGreaterThanOrEqual(1);
      expect(winners.length).toBeLessThanOrEqual(2);
      expect(new Set(winners.map((c) => c.expect)).size).toBe(winners.length);
      const final = await store.get(C, id);
      expect(final?.version).toBe(1 + winners.length);
      const history = await allHistory(store, id);
      expect(history.map((v) => v.version)).toStrictEqual(
        Array.from({ length: 1 + winners.length }, (_, i) => 1 + winners.length - i),
      );
      for (const loser of mine.filter((c) => !c.result.ok)) {
        expect(loser.result).toMatchObject({ ok: false, index: 0, reason: 'version-mismatch' });
      }
      for (const winner of winners) {
        const head = winner.result.ok ? winner.result.heads[0] : undefined;
        expect(head?.version).toBe(winner.expect + 1);
        expect(history.find((v) => v.version === head?.version)?.doc).toStrictEqual({
          n: winner.expect,
          k: winner.k,
        });
      }
    }
    const changes = await allChanges(store);
    expect(changes).toHaveLength(ids.length + results.filter((r) => r.ok).length);
    for (let i = 1; i < changes.length; i++) {
      expect(changes[i]!.seq).toBeGreaterThan(changes[i - 1]!.seq);
    }
  });
}
