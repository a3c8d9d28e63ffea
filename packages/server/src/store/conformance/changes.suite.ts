import { expect } from 'vitest';
import { C, type Harness, allChanges, commitOk, op, write } from './harness.suite.js';

/** The global change sequence: one entry per op, in commit order, strictly increasing seq. */
export function changesTests(h: Harness): void {
  h.test('an empty store has lastSeq 0 and no changes', async (store) => {
    expect(await store.lastSeq()).toBe(0);
    expect(await store.changes({ since: 0, limit: 10 })).toStrictEqual([]);
  });

  h.test('every op appears once, in commit order, with strictly increasing seq', async (store) => {
    const heads = [
      ...(await commitOk(store, [op('a', 0, { n: 1 }, { actor: 'alice' }), op('b', 0, { n: 1 })])),
      ...(await commitOk(store, [op('c', 0, { n: 1 }, { collection: 'others' })])),
      ...(await commitOk(store, [op('a', 1, null), op('b', 1, { n: 2 }), op('a', 2, { n: 3 })])),
    ];
    const kinds = ['create', 'create', 'create', 'delete', 'update', 'create'];
    const changes = await allChanges(store);
    expect(changes.map(({ seq: _seq, ...rest }) => rest)).toStrictEqual(
      heads.map((head, i) => ({
        collection: head.collection,
        id: head.id,
        op: kinds[i],
        version: head.version,
        etag: head.etag,
        doc: head.doc,
        at: head.updatedAt,
        by: head.updatedBy,
      })),
    );
    for (let i = 1; i < changes.length; i++) {
      expect(changes[i]?.seq).toBeGreaterThan(changes[i - 1]?.seq ?? Infinity);
    }
    expect(await store.lastSeq()).toBe(changes[changes.length - 1]?.seq);
  });

  h.test('changes since a seq returns only later entries, at most limit', async (store) => {
    for (let n = 0; n < 12; n++) await write(store, `r${n}`, { n });
    const all = await store.changes({ since: 0, limit: 1000 });
    expect(all).toHaveLength(12);
    const third = all[2]?.seq ?? 0;
    const later = await store.changes({ since: third, limit: 4 });
    expect(later).toStrictEqual(all.slice(3, 7));
    expect(await store.changes({ since: await store.lastSeq(), limit: 10 })).toStrictEqual([]);
  });

  h.test('changes filtered by collection', async (store) => {
    await write(store, 'a', { n: 1 });
    await write(store, 'a', { n: 1 }, { collection: 'others' });
    await write(store, 'b', { n: 1 });
    await write(store, 'a', null, { collection: 'others' });
    const all = await allChanges(store);
    const others = await allChanges(store, 'others');
    expect(others.map((c) => [c.id, c.op])).toStrictEqual([
      ['a', 'create'],
      ['a', 'delete'],
    ]);
    expect(others).toStrictEqual(all.filter((c) => c.collection === 'others'));
    expect(await allChanges(store, C)).toStrictEqual(all.filter((c) => c.collection === C));
    expect(await allChanges(store, 'nothing')).toStrictEqual([]);
  });

  h.test('lastSeq follows every successful commit and no failed one', async (store) => {
    let last = 0;
    for (let n = 0; n < 5; n++) {
      await commitOk(store, [op(`r${n}`, 0, { n }), op(`s${n}`, 0, { n })]);
      const seq = await store.lastSeq();
      expect(seq).toBeGreaterThan(last);
      last = seq;
      await store.commit([op(`r${n}`, 0, { n: 'stale' })]);
      expect(await store.lastSeq()).toBe(last);
    }
  });

  h.test('history survives in the change feed after retention trims it', async (store) => {
    for (let n = 1; n <= 5; n++) await write(store, 'a', { n }, { keepHistory: 1 });
    expect((await allChanges(store)).map((c) => c.doc)).toStrictEqual([
      { n: 1 },
      { n: 2 },
      { n: 3 },
      { n: 4 },
      { n: 5 },
    ]);
  });
}
