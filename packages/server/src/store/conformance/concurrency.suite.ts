import { expect } from 'vitest';
import type { Store } from '../types.js';
import { C, type Harness, allChanges, allHistory, jitter, op, write } from './harness.suite.js';

/**
 * Increments `doc.n` of `id` `times` times with the protocol the server uses: read the head, yield
 * (so that other writers run in between), commit with the version read, retry on a mismatch.
 */
async function incrementer(store: Store, id: string, times: number) {
  const versions: number[] = [];
  let conflicts = 0;
  while (versions.length < times) {
    const head = await store.get(C, id);
    await jitter();
    const n = (head?.doc?.['n'] as number | undefined) ?? 0;
    const result = await store.commit([op(id, head?.version ?? 0, { n: n + 1 }, { keepHistory: 100_000 })]);
    if (result.ok) versions.push(result.heads[0]?.version ?? -1);
    else conflicts++;
    await jitter();
  }
  return { versions, conflicts };
}

/** Many writers at once: nothing lost, nothing duplicated, exactly one winner per version. */
export function concurrencyTests(h: Harness): void {
  h.test(
    '50 concurrent writers on one resource lose no update',
    async (store) => {
      const initial = await write(store, 'counter', { n: 0 }, { keepHistory: 100_000 });
      const writers = await Promise.all(Array.from({ length: 50 }, () => incrementer(store, 'counter', 3)));
      const successes = writers.flatMap((w) => w.versions);
      const conflicts = writers.reduce((sum, w) => sum + w.conflicts, 0);
      // Without conflicts the writers did not race, and the test would prove nothing.
      expect(conflicts).toBeGreaterThan(0);
      expect(successes).toHaveLength(150);
      expect(new Set(successes).size).toBe(successes.length);

      const final = await store.get(C, 'counter');
      expect(final?.version).toBe(initial.version + successes.length);
      expect(final?.doc).toStrictEqual({ n: successes.length });

      const history = await allHistory(store, 'counter');
      const added = history.filter((v) => v.version > initial.version);
      expect(added).toHaveLength(successes.length);
      expect(new Set(history.map((v) => v.version)).size).toBe(history.length);
      expect([...successes].sort((a, b) => a - b)).toStrictEqual(added.map((v) => v.version).reverse());
      // Each version holds exactly one more than the one before: no increment was built on a stale read.
      for (const v of added) expect(v.doc).toStrictEqual({ n: v.version - initial.version });

      const changes = (await allChanges(store)).filter((c) => c.id === 'counter');
      expect(changes).toHaveLength(successes.length + 1);
      expect(changes.map((c) => c.version)).toStrictEqual(history.map((v) => v.version).reverse());
    },
    60_000,
  );

  h.test('concurrent creates of one id: exactly one succeeds', async (store) => {
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await jitter();
        return store.commit([op('unique', 0, { writer: i })]);
      }),
    );
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const head = await store.get(C, 'unique');
    expect(head?.version).toBe(1);
    for (const result of results) {
      if (!result.ok) {
        expect(result).toStrictEqual({ ok: false, index: 0, reason: 'version-mismatch', current: head });
      }
    }
    expect(await allHistory(store, 'unique')).toHaveLength(1);
    expect(await allChanges(store)).toHaveLength(1);
  });

  h.test('concurrent writers on different resources never conflict', async (store) => {
    const writers = await Promise.all(Array.from({ length: 20 }, (_, i) => incrementer(store, `r${i}`, 10)));
    expect(writers.every((w) => w.conflicts === 0)).toBe(true);
    for (let i = 0; i < 20; i++) expect((await store.get(C, `r${i}`))?.doc).toStrictEqual({ n: 10 });
    expect(await store.lastSeq()).toBeGreaterThanOrEqual(200);
    expect(await allChanges(store)).toHaveLength(200);
  });

  h.test('concurrent multi-op transfers keep the total', async (store) => {
    await write(store, 'from', { n: 100 });
    await write(store, 'to', { n: 0 });
    let transfers = 0;
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let done = 0; done < 3;) {
          const [from, to] = await Promise.all([store.get(C, 'from'), store.get(C, 'to')]);
          await jitter();
          if (from === null || to === null) throw new Error('accounts vanished');
          const result = await store.commit([
            op('from', from.version, { n: (from.doc?.['n'] as number) - 1 }),
            op('to', to.version, { n: (to.doc?.['n'] as number) + 1 }),
          ]);
          if (result.ok) {
            done++;
            transfers++;
          } else conflicts++;
        }
      }),
    );
    expect(conflicts).toBeGreaterThan(0);
    expect(transfers).toBe(60);
    expect((await store.get(C, 'from'))?.doc).toStrictEqual({ n: 40 });
    expect((await store.get(C, 'to'))?.doc).toStrictEqual({ n: 60 });
    // Every commit appended its two changes next to each other.
    const changes = (await allChanges(store)).slice(2);
    for (let i = 0; i < changes.length; i += 2) {
      expect([changes[i]?.id, changes[i + 1]?.id]).toStrictEqual(['from', 'to']);
      expect(changes[i + 1]?.seq).toBeGreaterThan(changes[i]?.seq ?? Infinity);
    }
  });
}
