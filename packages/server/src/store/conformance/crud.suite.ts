import { expect } from 'vitest';
import { C, type Harness, allChanges, allHistory, commitOk, op, write } from './harness.suite.js';

/** Heads through create, read, update, delete and re-create; versions, ETags, timestamps, actors. */
export function crudTests(h: Harness): void {
  h.test('capabilities are a frozen object with a name', async (store) => {
    expect(Object.isFrozen(store.capabilities)).toBe(true);
    expect(typeof store.capabilities.name).toBe('string');
    expect(typeof store.capabilities.multiProcess).toBe('boolean');
    expect(typeof store.capabilities.ephemeral).toBe('boolean');
    await expect(store.ping()).resolves.toBeUndefined();
  });

  h.test('get returns null for a URL that never held anything', async (store) => {
    expect(await store.get(C, 'nothing')).toBeNull();
  });

  h.test('create returns a head with version 1, a strong etag, timestamps and the actor', async (store) => {
    const before = Date.now();
    const [head] = await commitOk(store, [op('a', 0, { name: 'x' }, { actor: 'alice' })]);
    expect(head).toMatchObject({ collection: C, id: 'a', version: 1, deleted: false, doc: { name: 'x' } });
    expect(head?.etag).toMatch(/^"[\x21\x23-\x7e]+"$/);
    expect(head?.createdAt).toBe(head?.updatedAt);
    expect(head?.updatedAt).toBeGreaterThanOrEqual(before);
    expect(head?.updatedAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect(head?.updatedBy).toBe('alice');
    expect(await store.get(C, 'a')).toStrictEqual(head);
  });

  h.test('update increments the version by one and keeps createdAt', async (store) => {
    const created = await write(store, 'a', { n: 1 });
    let previous = created;
    for (let n = 2; n <= 20; n++) {
      const head = await write(store, 'a', { n });
      expect(head.version).toBe(previous.version + 1);
      expect(head.createdAt).toBe(created.createdAt);
      expect(head.doc).toStrictEqual({ n });
      expect(await store.get(C, 'a')).toStrictEqual(head);
      previous = head;
    }
  });

  h.test('delete leaves a tombstone with the next version', async (store) => {
    const created = await write(store, 'a', { n: 1 }, { actor: 'alice' });
    const tombstone = await write(store, 'a', null, { actor: 'bob' });
    expect(tombstone).toMatchObject({ version: 2, deleted: true, doc: null, updatedBy: 'bob' });
    expect(tombstone.createdAt).toBe(created.createdAt);
    expect(tombstone.etag).not.toBe(created.etag);
    expect(await store.get(C, 'a')).toStrictEqual(tombstone);
  });

  h.test('re-create after delete continues the version and resets createdAt', async (store) => {
    const first = await write(store, 'a', { n: 1 });
    await write(store, 'a', { n: 2 });
    const tombstone = await write(store, 'a', null);
    expect(tombstone.version).toBe(3);
    const again = await write(store, 'a', { n: 3 });
    expect(again).toMatchObject({ version: 4, deleted: false, doc: { n: 3 } });
    expect(again.createdAt).toBe(again.updatedAt);
    expect(again.createdAt).toBeGreaterThan(first.createdAt);
    expect(again.createdAt).toBeGreaterThanOrEqual(tombstone.updatedAt);
    const ops = (await allHistory(store, 'a')).map((v) => v.op);
    expect(ops).toStrictEqual(['create', 'delete', 'update', 'create']);
  });

  h.test('etags never repeat for a URL, across deletes and re-creates', async (store) => {
    const seen: string[] = [];
    for (let round = 0; round < 5; round++) {
      seen.push((await write(store, 'a', { round })).etag);
      seen.push((await write(store, 'a', { round, again: true })).etag);
      seen.push((await write(store, 'a', null)).etag);
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect((await allHistory(store, 'a')).map((v) => v.etag).reverse()).toStrictEqual(seen);
    for (const etag of seen) expect(etag).toMatch(/^"[^"]+"$/);
  });

  h.test('etags are unique across resources and collections', async (store) => {
    const etags = new Set<string>();
    for (let i = 0; i < 30; i++) {
      etags.add((await write(store, `r${i % 3}`, { i })).etag);
      etags.add((await write(store, `r${i % 3}`, { i }, { collection: 'others' })).etag);
    }
    expect(etags.size).toBe(60);
  });

  h.test('deleting a missing resource throws and writes nothing', async (store) => {
    await expect(store.commit([op('ghost', 0, null)])).rejects.toThrow();
    expect(await store.get(C, 'ghost')).toBeNull();
    expect(await store.lastSeq()).toBe(0);
  });

  h.test('deleting a tombstone throws and writes nothing', async (store) => {
    await write(store, 'a', { n: 1 });
    const tombstone = await write(store, 'a', null);
    const seq = await store.lastSeq();
    await expect(store.commit([op('a', tombstone.version, null)])).rejects.toThrow();
    expect(await store.get(C, 'a')).toStrictEqual(tombstone);
    expect(await store.lastSeq()).toBe(seq);
  });

  h.test('updatedAt never goes backwards for a resource', async (store) => {
    const start = Date.now();
    let previous = await write(store, 'a', { n: 0 });
    for (let n = 1; n < 40; n++) {
      const head = await write(store, 'a', n % 10 === 9 ? null : { n });
      expect(head.updatedAt).toBeGreaterThan(previous.updatedAt);
      expect(head.updatedAt).toBeGreaterThanOrEqual(head.createdAt);
      previous = head;
    }
    expect(previous.updatedAt).toBeGreaterThanOrEqual(start);
    expect(previous.updatedAt).toBeLessThan(Date.now() + 1000);
    const history = await allHistory(store, 'a');
    for (let i = 1; i < history.length; i++) {
      expect(history[i - 1]?.at).toBeGreaterThan(history[i]?.at ?? Infinity);
    }
  });

  h.test('the actor is recorded in the head, history and changes', async (store) => {
    await write(store, 'a', { n: 1 }, { actor: 'alice' });
    const head = await write(store, 'a', { n: 2 }, { actor: null });
    expect(head.updatedBy).toBeNull();
    await write(store, 'a', null, { actor: 'carol ✓' });
    expect((await store.get(C, 'a'))?.updatedBy).toBe('carol ✓');
    expect((await allHistory(store, 'a')).map((v) => v.by)).toStrictEqual(['carol ✓', null, 'alice']);
    expect((await allChanges(store)).map((c) => c.by)).toStrictEqual(['alice', null, 'carol ✓']);
  });

  h.test('collections are independent', async (store) => {
    await write(store, 'same', { where: 'things' });
    await write(store, 'same', { where: 'things', n: 2 });
    const other = await write(store, 'same', { where: 'others' }, { collection: 'others' });
    expect(other.version).toBe(1);
    expect(other.collection).toBe('others');
    expect((await store.get(C, 'same'))?.version).toBe(2);
    expect((await store.list('others', { limit: 10 })).items.map((i) => i.doc)).toStrictEqual([
      { where: 'others' },
    ]);
  });

  h.test('returned documents are copies', async (store) => {
    const doc = { list: [1, 2], nested: { a: 'b' } };
    const [head] = await commitOk(store, [op('a', 0, doc)]);
    doc.list.push(3);
    (head?.doc?.['nested'] as { a: string }).a = 'changed';
    const read = await store.get(C, 'a');
    expect(read?.doc).toStrictEqual({ list: [1, 2], nested: { a: 'b' } });
    (read?.doc?.['list'] as number[]).push(4);
    expect((await store.get(C, 'a'))?.doc).toStrictEqual({ list: [1, 2], nested: { a: 'b' } });
  });
}
