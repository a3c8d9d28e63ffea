import { expect } from 'vitest';
import type { CommitResult, Head, ReferencedBy, Reference, Store } from '../types.js';
import { type Harness, allChanges, commitOk, jitter, op, snapshot, write } from './harness.suite.js';

const USERS = 'users';
const ORDERS = 'orders';
const INVOICES = 'invoices';

const customer = (id: string): Reference => ({ pointer: '/customer', collection: USERS, id });

/** Writes a document of `collection` that references `refs` (on top of whatever is there). */
const refer = (store: Store, collection: string, id: string, refs: readonly Reference[]) =>
  write(store, id, { refs: refs.map((r) => r.id) }, { collection, references: refs });

/** Creates (or re-creates) a user. */
const user = (store: Store, id: string) => write(store, id, { name: id }, { collection: USERS });

/**
 * Who still references a live resource, without writing anything: a commit deletes it and then
 * fails on purpose (the second op expects the version from before the delete), so it is rolled
 * back either way. Empty when nothing references it.
 */
async function referrersOf(store: Store, collection: string, id: string): Promise<readonly ReferencedBy[]> {
  const head = await store.get(collection, id);
  if (head === null || head.deleted) throw new Error(`${collection}/${id} is not live`);
  const del = op(id, head.version, null, { collection });
  const result = await store.commit([del, { ...del, doc: { probe: true } }]);
  if (result.ok) throw new Error('the probe commit cannot succeed');
  if (result.reason === 'version-mismatch' && result.index === 1) return [];
  if (result.reason === 'still-referenced' && result.index === 0) return result.referencedBy;
  throw new Error(`unexpected probe outcome: ${result.reason}`);
}

/** `references`: no reference to a missing resource, no delete of a referenced one (SPEC 2, 3.4). */
export function referenceTests(h: Harness): void {
  h.test(
    'a reference to an absent or deleted resource is dangling, on create and on update',
    async (store) => {
      const before = await snapshot(store, ['o'], ORDERS);
      expect(
        await store.commit([op('o', 0, {}, { collection: ORDERS, references: [customer('ghost')] })]),
      ).toStrictEqual({
        ok: false,
        index: 0,
        reason: 'dangling-reference',
        reference: customer('ghost'),
      });
      expect(await snapshot(store, ['o'], ORDERS)).toStrictEqual(before);

      await user(store, 'gone');
      await write(store, 'gone', null, { collection: USERS });
      await user(store, 'live');
      const o = await refer(store, ORDERS, 'o', [customer('live')]);
      const stale = await snapshot(store, ['o'], ORDERS);
      // The first dangling reference in the given order is the one reported.
      const other: Reference = { pointer: '/seller', collection: USERS, id: 'ghost' };
      const result = await store.commit([
        op(
          'o',
          o.version,
          {},
          { collection: ORDERS, references: [customer('live'), customer('gone'), other] },
        ),
      ]);
      expect(result).toStrictEqual({
        ok: false,
        index: 0,
        reason: 'dangling-reference',
        reference: customer('gone'),
      });
      expect(await snapshot(store, ['o'], ORDERS)).toStrictEqual(stale);
      // The failed update did not move the reference off `live`.
      expect(await referrersOf(store, USERS, 'live')).toStrictEqual([
        { collection: ORDERS, count: 1, examples: ['o'] },
      ]);
    },
  );

  h.test('a reference to a resource created earlier in the same commit is live', async (store) => {
    const heads = await commitOk(store, [
      op('u', 0, { name: 'u' }, { collection: USERS }),
      op('o', 0, {}, { collection: ORDERS, references: [customer('u')] }),
    ]);
    expect(heads.map((head) => head.version)).toStrictEqual([1, 1]);
    expect(await referrersOf(store, USERS, 'u')).toStrictEqual([
      { collection: ORDERS, count: 1, examples: ['o'] },
    ]);

    // The other way round, the target does not exist yet when the reference is checked.
    const reversed = await store.commit([
      op('o2', 0, {}, { collection: ORDERS, references: [customer('v')] }),
      op('v', 0, { name: 'v' }, { collection: USERS }),
    ]);
    expect(reversed).toMatchObject({ ok: false, index: 0, reason: 'dangling-reference' });
    // A target deleted earlier in the commit is gone; a reference made earlier blocks a later delete.
    await user(store, 'w');
    const w = await store.get(USERS, 'w');
    const deleteFirst = await store.commit([
      op('w', w?.version ?? -1, null, { collection: USERS }),
      op('o3', 0, {}, { collection: ORDERS, references: [customer('w')] }),
    ]);
    expect(deleteFirst).toMatchObject({ ok: false, index: 1, reason: 'dangling-reference' });
    const referFirst = await store.commit([
      op('o3', 0, {}, { collection: ORDERS, references: [customer('w')] }),
      op('w', w?.version ?? -1, null, { collection: USERS }),
    ]);
    expect(referFirst).toStrictEqual({
      ok: false,
      index: 1,
      reason: 'still-referenced',
      referencedBy: [{ collection: ORDERS, count: 1, examples: ['o3'] }],
    });
  });

  h.test('a delete of a referenced resource lists its referrers and writes nothing', async (store) => {
    const u = await user(store, 'u');
    // Created out of order, so that only sorting puts the examples in order.
    for (const id of ['o7', 'o3', 'o1', 'o6', 'o2', 'o5', 'o4'])
      await refer(store, ORDERS, id, [customer('u')]);
    for (const id of ['i2', 'i1']) await refer(store, INVOICES, id, [customer('u')]);
    // Two fields referencing one target make one referrer; a reference to itself does not count.
    await refer(store, INVOICES, 'i1', [customer('u'), { pointer: '/payer', collection: USERS, id: 'u' }]);
    await write(
      store,
      'u',
      { name: 'u' },
      { collection: USERS, references: [{ pointer: '/self', collection: USERS, id: 'u' }] },
    );
    const before = await snapshot(store, ['u'], USERS);
    const result = await store.commit([op('u', u.version + 1, null, { collection: USERS })]);
    expect(result).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'still-referenced',
      referencedBy: [
        { collection: INVOICES, count: 2, examples: ['i1', 'i2'] },
        { collection: ORDERS, count: 7, examples: ['o1', 'o2', 'o3', 'o4', 'o5'] },
      ],
    });
    expect(await snapshot(store, ['u'], USERS)).toStrictEqual(before);
  });

  h.test('deleting the referrers first frees the target', async (store) => {
    await user(store, 'u');
    await refer(store, ORDERS, 'o', [customer('u')]);
    await refer(store, INVOICES, 'i', [customer('u')]);
    await write(store, 'o', null, { collection: ORDERS });
    expect(await referrersOf(store, USERS, 'u')).toStrictEqual([
      { collection: INVOICES, count: 1, examples: ['i'] },
    ]);
    await write(store, 'i', null, { collection: INVOICES });
    const tombstone = await write(store, 'u', null, { collection: USERS });
    expect(tombstone.deleted).toBe(true);
    // A re-created referrer does not bring its old references back.
    await user(store, 'u');
    await write(store, 'o', {}, { collection: ORDERS });
    expect(await referrersOf(store, USERS, 'u')).toStrictEqual([]);
  });

  h.test('changing a reference moves it', async (store) => {
    await user(store, 'u1');
    await user(store, 'u2');
    await refer(store, ORDERS, 'o', [customer('u1')]);
    await refer(store, ORDERS, 'o', [customer('u2')]);
    expect(await referrersOf(store, USERS, 'u1')).toStrictEqual([]);
    expect(await referrersOf(store, USERS, 'u2')).toStrictEqual([
      { collection: ORDERS, count: 1, examples: ['o'] },
    ]);
    // Undefined references leave them as they were; an empty list drops them.
    await write(store, 'o', { note: 'no change' }, { collection: ORDERS });
    expect(await referrersOf(store, USERS, 'u2')).toHaveLength(1);
    await refer(store, ORDERS, 'o', []);
    expect(await referrersOf(store, USERS, 'u2')).toStrictEqual([]);
  });

  h.test('a resource that references itself may be deleted', async (store) => {
    const self: Reference = { pointer: '/parent', collection: USERS, id: 'root' };
    // Not dangling on create either: the write itself makes the target live.
    await write(store, 'root', { parent: 'root' }, { collection: USERS, references: [self] });
    const tombstone = await write(store, 'root', null, { collection: USERS });
    expect(tombstone.deleted).toBe(true);
  });

  h.test(
    'a delete racing inserts of referencing documents never leaves a dangling reference',
    async (store) => {
      let deletesWon = 0;
      let insertsWon = 0;
      for (let round = 0; round < 60; round++) {
        const target = `u${round}`;
        const created = await user(store, target);
        const deleter = async (): Promise<CommitResult> => {
          await jitter();
          const head = await store.get(USERS, target);
          await jitter();
          return store.commit([op(target, head?.version ?? 0, null, { collection: USERS })]);
        };
        const inserter = async (k: number): Promise<{ id: string; result: CommitResult }> => {
          const id = `o${round}-${k}`;
          await jitter();
          const head = await store.get(ORDERS, id);
          await jitter();
          const doc = { customer: target };
          return {
            id,
            result: await store.commit([
              op(id, head?.version ?? 0, doc, { collection: ORDERS, references: [customer(target)] }),
            ]),
          };
        };
        const [deleted, ...inserts] = await Promise.all([deleter(), ...[0, 1, 2].map(inserter)]);
        const inserted = inserts.filter((i) => i.result.ok).map((i) => i.id);

        if (deleted?.ok) {
          // The delete went first: every insert found its target gone.
          deletesWon++;
          for (const { result } of inserts) {
            expect(result).toStrictEqual({
              ok: false,
              index: 0,
              reason: 'dangling-reference',
              reference: customer(target),
            });
          }
          // No refs row survived the delete: once re-created, the target is free to delete again.
          await user(store, target);
          expect(await referrersOf(store, USERS, target)).toStrictEqual([]);
        } else {
          // An insert went first: the delete saw it, and the target is still there.
          insertsWon++;
          expect(deleted).toMatchObject({ ok: false, index: 0, reason: 'still-referenced' });
          const count =
            deleted?.ok === false && deleted.reason === 'still-referenced'
              ? deleted.referencedBy[0]?.count
              : 0;
          expect(count).toBeGreaterThanOrEqual(1);
          expect(count).toBeLessThanOrEqual(inserted.length);
          expect((await store.get(USERS, target))?.version).toBe(created.version);
          for (const { result } of inserts) expect(result).toMatchObject({ ok: true });
          expect(await referrersOf(store, USERS, target)).toStrictEqual([
            { collection: ORDERS, count: inserts.length, examples: inserted.sort() },
          ]);
        }
        // Every live order points at a live user.
        for (const id of inserted) {
          const order = (await store.get(ORDERS, id)) as Head;
          expect((await store.get(USERS, order.doc?.['customer'] as string))?.deleted).toBe(false);
        }
      }
      // Both orders of events happened, so the test saw the race from both sides.
      expect(deletesWon).toBeGreaterThan(0);
      expect(insertsWon).toBeGreaterThan(0);
      expect(
        (await allChanges(store)).filter((c) => c.collection === ORDERS && c.op !== 'create'),
      ).toStrictEqual([]);
    },
    60_000,
  );
}
