import { expect } from 'vitest';
import { C, type Harness, allChanges, allHistory, commitOk, op, snapshot, write } from './harness.suite.js';

/** Compare-and-set semantics of `commit`: mismatches, atomicity of several ops, ops seeing each other. */
export function commitTests(h: Harness): void {
  h.test('a stale expectVersion returns the current head and writes nothing', async (store) => {
    await write(store, 'a', { n: 1 });
    const current = await write(store, 'a', { n: 2 });
    const before = await snapshot(store, ['a']);
    const result = await store.commit([op('a', 1, { n: 'stale' })]);
    expect(result).toStrictEqual({ ok: false, index: 0, reason: 'version-mismatch', current });
    expect(await snapshot(store, ['a'])).toStrictEqual(before);
  });

  h.test('expectVersion 0 on an existing resource is a mismatch', async (store) => {
    const current = await write(store, 'a', { n: 1 });
    const result = await store.commit([op('a', 0, { n: 2 })]);
    expect(result).toStrictEqual({ ok: false, index: 0, reason: 'version-mismatch', current });
  });

  h.test('a non-zero expectVersion on a URL that never held anything reports current null', async (store) => {
    const result = await store.commit([op('a', 3, { n: 1 })]);
    expect(result).toStrictEqual({ ok: false, index: 0, reason: 'version-mismatch', current: null });
    expect(await store.get(C, 'a')).toBeNull();
    expect(await store.lastSeq()).toBe(0);
  });

  h.test('a tombstone counts with its version for expectVersion', async (store) => {
    await write(store, 'a', { n: 1 });
    const tombstone = await write(store, 'a', null);
    const stale = await store.commit([op('a', 0, { n: 2 })]);
    expect(stale).toStrictEqual({ ok: false, index: 0, reason: 'version-mismatch', current: tombstone });
    const [head] = await commitOk(store, [op('a', tombstone.version, { n: 2 })]);
    expect(head?.version).toBe(tombstone.version + 1);
  });

  h.test('a multi-op commit whose last op mismatches writes nothing at all', async (store) => {
    await write(store, 'b', { n: 1 });
    const c = await write(store, 'c', { n: 1 });
    await write(store, 'c', { n: 2 });
    const before = await snapshot(store, ['a', 'b', 'c']);
    const result = await store.commit([
      op('a', 0, { n: 1 }),
      op('b', 1, { n: 2 }),
      op('b', 2, null),
      op('c', c.version, { n: 'stale' }),
    ]);
    expect(result).toMatchObject({ ok: false, index: 3, reason: 'version-mismatch' });
    expect(result).toStrictEqual({
      ok: false,
      index: 3,
      reason: 'version-mismatch',
      current: await store.get(C, 'c'),
    });
    expect(await snapshot(store, ['a', 'b', 'c'])).toStrictEqual(before);
  });

  h.test('the first mismatching op is the one reported', async (store) => {
    await write(store, 'a', { n: 1 });
    await write(store, 'b', { n: 1 });
    const result = await store.commit([op('a', 1, { n: 2 }), op('b', 7, { n: 2 }), op('c', 5, { n: 1 })]);
    expect(result).toMatchObject({ ok: false, index: 1, current: { id: 'b', version: 1 } });
    expect((await store.get(C, 'a'))?.version).toBe(1);
  });

  h.test('an op that throws rolls back the earlier ops of its commit', async (store) => {
    await write(store, 'b', { n: 1 });
    const before = await snapshot(store, ['a', 'b', 'ghost']);
    await expect(
      store.commit([op('a', 0, { n: 1 }), op('b', 1, { n: 2 }), op('ghost', 0, null)]),
    ).rejects.toThrow();
    expect(await snapshot(store, ['a', 'b', 'ghost'])).toStrictEqual(before);
  });

  h.test('later ops of a commit see what earlier ops wrote', async (store) => {
    const heads = await commitOk(store, [
      op('x', 0, { step: 1 }),
      op('x', 1, { step: 2 }),
      op('y', 0, { step: 1 }),
      op('x', 2, null),
      op('x', 3, { step: 4 }),
    ]);
    expect(heads.map((head) => [head.id, head.version, head.deleted])).toStrictEqual([
      ['x', 1, false],
      ['x', 2, false],
      ['y', 1, false],
      ['x', 3, true],
      ['x', 4, false],
    ]);
    expect(await store.get(C, 'x')).toStrictEqual(heads[4]);
    expect((await allHistory(store, 'x')).map((v) => [v.version, v.op, v.doc])).toStrictEqual([
      [4, 'create', { step: 4 }],
      [3, 'delete', null],
      [2, 'update', { step: 2 }],
      [1, 'create', { step: 1 }],
    ]);
    expect((await allChanges(store)).map((ch) => [ch.id, ch.version, ch.op])).toStrictEqual([
      ['x', 1, 'create'],
      ['x', 2, 'update'],
      ['y', 1, 'create'],
      ['x', 3, 'delete'],
      ['x', 4, 'create'],
    ]);
  });

  h.test('an op expecting the version from before an earlier op of its commit mismatches', async (store) => {
    const before = await snapshot(store, ['x']);
    const result = await store.commit([op('x', 0, { step: 1 }), op('x', 0, { step: 2 })]);
    expect(result).toMatchObject({ ok: false, index: 1, reason: 'version-mismatch' });
    expect(await snapshot(store, ['x'])).toStrictEqual(before);
  });

  h.test('an empty commit succeeds and writes nothing', async (store) => {
    expect(await store.commit([])).toStrictEqual({ ok: true, heads: [] });
    expect(await store.lastSeq()).toBe(0);
  });

  h.test('a commit returns heads in op order, equal to what get returns', async (store) => {
    const heads = await commitOk(store, [
      op('m', 0, { n: 1 }, { actor: 'alice' }),
      op('a', 0, { n: 2 }, { collection: 'others' }),
      op('z', 0, { n: 3 }),
    ]);
    expect(heads.map((head) => [head.collection, head.id])).toStrictEqual([
      [C, 'm'],
      ['others', 'a'],
      [C, 'z'],
    ]);
    for (const head of heads) expect(await store.get(head.collection, head.id)).toStrictEqual(head);
  });
}
