import { expect } from 'vitest';
import type { Store, UniqueKey } from '../types.js';
import {
  C,
  type Harness,
  allChanges,
  allHistory,
  commitOk,
  jitter,
  op,
  snapshot,
  write,
} from './harness.suite.js';

const email = (key: string): UniqueKey => ({ constraint: 'email', key });

/**
 * Who holds `key` in `collection`, or null, without writing anything: a commit claims the key for a
 * probe resource and then fails on purpose (its second op expects the version from before the
 * first), so it is rolled back whichever way the claim went.
 */
async function holderOf(store: Store, key: UniqueKey, collection = C): Promise<string | null> {
  const probe = op('\u{10FFFF}probe', 0, {}, { collection, uniqueKeys: [key] });
  const result = await store.commit([probe, probe]);
  if (result.ok) throw new Error('the probe commit cannot succeed');
  if (result.reason === 'version-mismatch' && result.index === 1) return null;
  if (result.reason === 'unique-violation' && result.index === 0) return result.holder;
  throw new Error(`unexpected probe outcome: ${result.reason}`);
}

/** `uniqueKeys`: the store's own index decides, under any concurrency (SPEC 3.6). */
export function uniqueTests(h: Harness): void {
  h.test('of 50 concurrent creates holding one key, exactly one commits', async (store) => {
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const id = `u${i}`;
        const head = await store.get(C, id);
        await jitter();
        const result = await store.commit([
          op(id, head?.version ?? 0, { i }, { uniqueKeys: [email('a@x')] }),
        ]);
        return { id, result };
      }),
    );
    const winners = results.filter((r) => r.result.ok).map((r) => r.id);
    expect(winners).toHaveLength(1);
    const [holder] = winners;
    for (const { id, result } of results) {
      if (id === holder) continue;
      expect(result).toStrictEqual({
        ok: false,
        index: 0,
        reason: 'unique-violation',
        constraint: 'email',
        key: 'a@x',
        holder,
      });
      expect(await store.get(C, id)).toBeNull();
    }
    expect(await allChanges(store)).toHaveLength(1);
    expect(await holderOf(store, email('a@x'))).toBe(holder);
  });

  h.test('a compound key is one opaque key', async (store) => {
    // The server encodes the constrained fields; the store compares whole keys only.
    const vm = (region: string, name: string): UniqueKey => ({
      constraint: 'region+name',
      key: JSON.stringify([region, name]),
    });
    await write(store, 'a', { region: 'eu', name: 'web' }, { uniqueKeys: [vm('eu', 'web')] });
    await write(store, 'b', { region: 'eu', name: 'db' }, { uniqueKeys: [vm('eu', 'db')] });
    await write(store, 'c', { region: 'us', name: 'web' }, { uniqueKeys: [vm('us', 'web')] });
    const result = await store.commit([
      op('d', 0, { region: 'eu', name: 'web' }, { uniqueKeys: [vm('eu', 'web')] }),
    ]);
    expect(result).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'unique-violation',
      constraint: 'region+name',
      key: '["eu","web"]',
      holder: 'a',
    });
  });

  h.test('an update that keeps its own key commits', async (store) => {
    const created = await write(store, 'a', { email: 'a@x', n: 1 }, { uniqueKeys: [email('a@x')] });
    const [updated] = await commitOk(store, [
      op('a', created.version, { email: 'a@x', n: 2 }, { uniqueKeys: [email('a@x')] }),
    ]);
    expect(updated?.doc).toStrictEqual({ email: 'a@x', n: 2 });
    expect(await holderOf(store, email('a@x'))).toBe('a');
  });

  h.test('an update to a key another resource holds fails and writes nothing', async (store) => {
    await write(store, 'a', { email: 'a@x' }, { uniqueKeys: [email('a@x')] });
    const b = await write(store, 'b', { email: 'b@x' }, { uniqueKeys: [email('b@x')] });
    const before = await snapshot(store, ['a', 'b']);
    const result = await store.commit([op('b', b.version, { email: 'a@x' }, { uniqueKeys: [email('a@x')] })]);
    expect(result).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'unique-violation',
      constraint: 'email',
      key: 'a@x',
      holder: 'a',
    });
    expect(await snapshot(store, ['a', 'b'])).toStrictEqual(before);
    // b did not give up its old key, and a kept its own.
    expect(await holderOf(store, email('b@x'))).toBe('b');
    expect(await holderOf(store, email('a@x'))).toBe('a');
  });

  h.test('an update that changes its key releases the old one', async (store) => {
    await write(store, 'a', { email: 'old@x' }, { uniqueKeys: [email('old@x')] });
    await write(store, 'a', { email: 'new@x' }, { uniqueKeys: [email('new@x')] });
    expect(await holderOf(store, email('old@x'))).toBeNull();
    expect(await holderOf(store, email('new@x'))).toBe('a');
    await write(store, 'b', { email: 'old@x' }, { uniqueKeys: [email('old@x')] });
    // An empty set releases everything.
    await write(store, 'a', {}, { uniqueKeys: [] });
    expect(await holderOf(store, email('new@x'))).toBeNull();
  });

  h.test('undefined uniqueKeys leave the keys as they were', async (store) => {
    await write(store, 'a', { email: 'a@x' }, { uniqueKeys: [email('a@x')] });
    await write(store, 'a', { email: 'a@x', n: 2 });
    expect(await holderOf(store, email('a@x'))).toBe('a');
  });

  h.test('a delete releases the keys so that another resource can take them', async (store) => {
    await write(
      store,
      'a',
      { email: 'a@x' },
      { uniqueKeys: [email('a@x'), { constraint: 'name', key: 'ann' }] },
    );
    // "whatever this says": keys passed with a delete are released all the same.
    await write(store, 'a', null, { uniqueKeys: [email('a@x')] });
    expect(await holderOf(store, email('a@x'))).toBeNull();
    expect(await holderOf(store, { constraint: 'name', key: 'ann' })).toBeNull();
    await write(store, 'b', { email: 'a@x' }, { uniqueKeys: [email('a@x')] });
    expect(await holderOf(store, email('a@x'))).toBe('b');
    // The deleted resource, re-created, now collides with the new holder.
    const tombstone = await store.get(C, 'a');
    const result = await store.commit([
      op('a', tombstone?.version ?? -1, { email: 'a@x' }, { uniqueKeys: [email('a@x')] }),
    ]);
    expect(result).toMatchObject({ ok: false, reason: 'unique-violation', holder: 'b' });
  });

  h.test('keys are per collection and per constraint', async (store) => {
    await write(store, 'a', {}, { uniqueKeys: [{ constraint: 'email', key: 'same' }] });
    await write(store, 'b', {}, { uniqueKeys: [{ constraint: 'username', key: 'same' }] });
    await write(store, 'c', {}, { collection: 'others', uniqueKeys: [{ constraint: 'email', key: 'same' }] });
    expect(await holderOf(store, { constraint: 'email', key: 'same' })).toBe('a');
    expect(await holderOf(store, { constraint: 'username', key: 'same' })).toBe('b');
    expect(await holderOf(store, { constraint: 'email', key: 'same' }, 'others')).toBe('c');
    expect(await holderOf(store, { constraint: 'email', key: 'SAME' })).toBeNull();
  });

  h.test(
    "a multi-op commit whose second op conflicts leaves the first op's keys unwritten",
    async (store) => {
      await write(store, 'holder', { email: 'taken@x' }, { uniqueKeys: [email('taken@x')] });
      const before = await snapshot(store, ['a', 'b', 'holder']);
      const result = await store.commit([
        op('a', 0, { email: 'free@x' }, { uniqueKeys: [email('free@x')] }),
        op('b', 0, { email: 'taken@x' }, { uniqueKeys: [email('taken@x')] }),
      ]);
      expect(result).toStrictEqual({
        ok: false,
        index: 1,
        reason: 'unique-violation',
        constraint: 'email',
        key: 'taken@x',
        holder: 'holder',
      });
      expect(await snapshot(store, ['a', 'b', 'holder'])).toStrictEqual(before);
      expect(await holderOf(store, email('free@x'))).toBeNull();
    },
  );

  h.test('a key released by an earlier op of a commit can be taken by a later one', async (store) => {
    const a = await write(store, 'a', { email: 'k@x' }, { uniqueKeys: [email('k@x')] });
    await commitOk(store, [
      op('a', a.version, { email: 'other@x' }, { uniqueKeys: [email('other@x')] }),
      op('b', 0, { email: 'k@x' }, { uniqueKeys: [email('k@x')] }),
    ]);
    expect(await holderOf(store, email('k@x'))).toBe('b');
    // And two ops of one commit cannot both claim a key.
    const result = await store.commit([
      op('c', 0, {}, { uniqueKeys: [email('new@x')] }),
      op('d', 0, {}, { uniqueKeys: [email('new@x')] }),
    ]);
    expect(result).toMatchObject({ ok: false, index: 1, reason: 'unique-violation', holder: 'c' });
    expect(await allHistory(store, 'c')).toStrictEqual([]);
  });
  h.test(
    'uniqueKeyHolders names the holder of each held key, in the order asked, and writes nothing',
    async (store) => {
      await write(store, 'a', {}, { uniqueKeys: [email('a@x'), { constraint: 'username', key: 'ann' }] });
      await write(store, 'b', {}, { uniqueKeys: [email('b@x')] });
      await write(store, 'c', {}, { collection: 'others', uniqueKeys: [email('c@x')] });
      const seqBefore = await store.lastSeq();
      expect(
        await store.uniqueKeyHolders(C, [
          email('b@x'),
          email('free@x'),
          { constraint: 'username', key: 'ann' },
          { constraint: 'username', key: 'a@x' },
          email('c@x'),
        ]),
      ).toStrictEqual([
        { constraint: 'email', key: 'b@x', holder: 'b' },
        { constraint: 'username', key: 'ann', holder: 'a' },
      ]);
      expect(await store.uniqueKeyHolders('others', [email('c@x')])).toStrictEqual([
        { constraint: 'email', key: 'c@x', holder: 'c' },
      ]);
      expect(await store.uniqueKeyHolders(C, [])).toStrictEqual([]);
      // A deleted resource holds nothing any more.
      await write(store, 'b', null);
      expect(await store.uniqueKeyHolders(C, [email('b@x')])).toStrictEqual([]);
      expect(await store.lastSeq()).toBe(seqBefore + 1);
    },
  );
}
