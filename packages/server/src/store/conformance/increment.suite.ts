import { expect } from 'vitest';
import type { CommitResult, Increment, JsonObject, Store, UniqueKey } from '../types.js';
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

/** Commits one increment of `id`, on whatever version is current unless `expectVersion` is given. */
function increment(
  store: Store,
  id: string,
  inc: Increment,
  expectVersion: number | null = null,
): Promise<CommitResult> {
  // `doc` is ignored when `increment` is set; a value that would be wrong if it were used.
  return store.commit([op(id, 0, { ignored: true }, { expectVersion, increment: inc })]);
}

/** Like {@link increment}, failing the test unless it commits; returns the new document. */
async function incrementOk(store: Store, id: string, inc: Increment): Promise<JsonObject | null> {
  const result = await increment(store, id, inc);
  if (!result.ok) throw new Error(`Expected the increment to succeed: ${result.reason}.`);
  return result.heads[0]?.doc ?? null;
}

/** `increment`: an atomic add inside the store, bounded, applied to the current version (SPEC 3.6). */
export function incrementTests(h: Harness): void {
  h.test(
    '100 concurrent decrements of a stock of 10 with minimum 0: exactly 10 commit',
    async (store) => {
      const initial = await write(store, 'p', { name: 'pen', stock: 10 });
      const results = await Promise.all(
        Array.from({ length: 100 }, async () => {
          await store.get(C, 'p');
          await jitter();
          return increment(store, 'p', { pointer: '/stock', by: -1, minimum: 0 });
        }),
      );
      const final = await store.get(C, 'p');
      expect(final?.doc).toStrictEqual({ name: 'pen', stock: 0 });
      expect(final?.version).toBe(initial.version + 10);
      const successes = results.filter((r) => r.ok);
      expect(successes).toHaveLength(10);
      const versions = successes.map((r) => (r.ok ? r.heads[0]?.version : -1));
      expect(new Set(versions).size).toBe(10);
      for (const result of results) {
        if (result.ok) continue;
        expect(result).toStrictEqual({
          ok: false,
          index: 0,
          reason: 'out-of-bounds',
          value: 0,
          bound: 'minimum',
          limit: 0,
          current: final,
        });
      }
      const added = (await allHistory(store, 'p')).filter((v) => v.version > initial.version);
      expect(added.map((v) => [v.op, v.doc?.['stock']])).toStrictEqual(
        Array.from({ length: 10 }, (_, i) => ['update', i]),
      );
      expect((await allChanges(store)).map((c) => c.doc?.['stock'])).toStrictEqual([
        10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
      ]);
    },
    60_000,
  );

  h.test('an increment writes an ordinary update and returns its head', async (store) => {
    const key: UniqueKey = { constraint: 'sku', key: 'pen' };
    const initial = await write(store, 'p', { stock: 0.1, other: 'kept' }, { uniqueKeys: [key] });
    const [head] = await commitOk(store, [
      op('p', null, null, {
        expectVersion: null,
        increment: { pointer: '/stock', by: 0.2 },
        actor: 'alice',
      }),
    ]);
    // Plain JavaScript addition, float error included.
    expect(head?.doc).toStrictEqual({ stock: 0.1 + 0.2, other: 'kept' });
    expect(head).toMatchObject({ version: initial.version + 1, deleted: false, updatedBy: 'alice' });
    expect(head?.createdAt).toBe(initial.createdAt);
    expect(head?.etag).not.toBe(initial.etag);
    expect(await store.get(C, 'p')).toStrictEqual(head);
    const [latest] = await allHistory(store, 'p');
    expect(latest).toMatchObject({ version: head?.version, op: 'update', doc: head?.doc, by: 'alice' });
    expect((await allChanges(store)).at(-1)).toMatchObject({
      op: 'update',
      version: head?.version,
      doc: head?.doc,
    });
    // The keys were left alone: another resource still cannot take them.
    const taken = await store.commit([op('q', 0, {}, { uniqueKeys: [key] })]);
    expect(taken).toMatchObject({ ok: false, reason: 'unique-violation', holder: 'p' });
  });

  h.test('maximum and the exclusive bounds are checked on the result', async (store) => {
    await write(store, 'p', { n: 5 });
    expect(await incrementOk(store, 'p', { pointer: '/n', by: 5, maximum: 10 })).toStrictEqual({ n: 10 });
    const current = await store.get(C, 'p');
    const before = await snapshot(store, ['p']);
    const refused = (value: number, bound: string, limit: number) => ({
      ok: false,
      index: 0,
      reason: 'out-of-bounds',
      value,
      bound,
      limit,
      current,
    });
    expect(await increment(store, 'p', { pointer: '/n', by: 1, maximum: 10 })).toStrictEqual(
      refused(10, 'maximum', 10),
    );
    expect(await increment(store, 'p', { pointer: '/n', by: 1, exclusiveMaximum: 11 })).toStrictEqual(
      refused(10, 'maximum', 11),
    );
    expect(await increment(store, 'p', { pointer: '/n', by: -10, exclusiveMinimum: 0 })).toStrictEqual(
      refused(10, 'minimum', 0),
    );
    expect(await increment(store, 'p', { pointer: '/n', by: -11, minimum: 0 })).toStrictEqual(
      refused(10, 'minimum', 0),
    );
    // Both lower bounds crossed: the tighter one is reported.
    expect(
      await increment(store, 'p', { pointer: '/n', by: -20, minimum: 0, exclusiveMinimum: 2 }),
    ).toStrictEqual(refused(10, 'minimum', 2));
    expect(await snapshot(store, ['p'])).toStrictEqual(before);
    expect(await incrementOk(store, 'p', { pointer: '/n', by: -9.5, exclusiveMinimum: 0 })).toStrictEqual({
      n: 0.5,
    });
    expect(await incrementOk(store, 'p', { pointer: '/n', by: -0.5, minimum: 0, maximum: 0 })).toStrictEqual({
      n: 0,
    });
  });

  h.test('a missing member counts as 0 and is created', async (store) => {
    await write(store, 'p', { nested: { kept: true } });
    expect(await incrementOk(store, 'p', { pointer: '/nested/count', by: 2 })).toStrictEqual({
      nested: { kept: true, count: 2 },
    });
    expect(await incrementOk(store, 'p', { pointer: '/top', by: -1, minimum: -1 })).toStrictEqual({
      nested: { kept: true, count: 2 },
      top: -1,
    });
    const result = await increment(store, 'p', { pointer: '/fresh', by: -1, minimum: 0 });
    expect(result).toMatchObject({
      ok: false,
      reason: 'out-of-bounds',
      value: 0,
      bound: 'minimum',
      limit: 0,
    });
  });

  h.test('a value that is not a number, or a missing parent, is not-a-number', async (store) => {
    const current = await write(store, 'p', {
      s: '1',
      b: true,
      z: null,
      o: {},
      list: [1, 'x'],
      constructor: 1,
    });
    const before = await snapshot(store, ['p']);
    const notANumber = { ok: false, index: 0, reason: 'not-a-number', current };
    for (const pointer of [
      '/s',
      '/b',
      '/z',
      '/o',
      '/list',
      '/list/1',
      '/list/2',
      '/list/-',
      '/missing/n',
      '/s/0',
      '',
    ]) {
      expect(await increment(store, 'p', { pointer, by: 1 }), pointer).toStrictEqual(notANumber);
    }
    expect(await snapshot(store, ['p'])).toStrictEqual(before);
    // Array elements that are numbers can be incremented; own members only, but any name.
    expect(await incrementOk(store, 'p', { pointer: '/list/0', by: 1 })).toMatchObject({ list: [2, 'x'] });
    expect(await incrementOk(store, 'p', { pointer: '/constructor', by: 1 })).toMatchObject({
      constructor: 2,
    });
  });

  h.test('an increment of an absent or deleted resource is not-found', async (store) => {
    expect(await increment(store, 'ghost', { pointer: '/n', by: 1 })).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'not-found',
    });
    await write(store, 'p', { n: 1 });
    const tombstone = await write(store, 'p', null);
    const before = await snapshot(store, ['p', 'ghost']);
    expect(await increment(store, 'p', { pointer: '/n', by: 1 })).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'not-found',
    });
    expect(await increment(store, 'p', { pointer: '/n', by: 1 }, tombstone.version)).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'not-found',
    });
    expect(await snapshot(store, ['p', 'ghost'])).toStrictEqual(before);
  });

  h.test('an increment with an expectVersion is a compare-and-set', async (store) => {
    const first = await write(store, 'p', { n: 1 });
    const current = await write(store, 'p', { n: 2 });
    const before = await snapshot(store, ['p']);
    expect(await increment(store, 'p', { pointer: '/n', by: 1 }, first.version)).toStrictEqual({
      ok: false,
      index: 0,
      reason: 'version-mismatch',
      current,
    });
    expect(await snapshot(store, ['p'])).toStrictEqual(before);
    const result = await increment(store, 'p', { pointer: '/n', by: 1 }, current.version);
    expect(result).toMatchObject({ ok: true, heads: [{ version: current.version + 1, doc: { n: 3 } }] });
  });

  h.test('only an increment may leave expectVersion null', async (store) => {
    await write(store, 'p', { n: 1 });
    const before = await snapshot(store, ['p']);
    await expect(store.commit([op('p', 0, { n: 2 }, { expectVersion: null })])).rejects.toThrow();
    expect(await snapshot(store, ['p'])).toStrictEqual(before);
  });

  h.test('pointers are unescaped as RFC 6901 says', async (store) => {
    await write(store, 'p', { 'a/b': 1, 'm~n': 1, '~1': 1, a: { b: 5 } });
    expect(await incrementOk(store, 'p', { pointer: '/a~1b', by: 1 })).toMatchObject({
      'a/b': 2,
      a: { b: 5 },
    });
    expect(await incrementOk(store, 'p', { pointer: '/m~0n', by: 1 })).toMatchObject({ 'm~n': 2 });
    // ~01 is "~1", not "/".
    expect(await incrementOk(store, 'p', { pointer: '/~01', by: 1 })).toMatchObject({ '~1': 2 });
    expect(await incrementOk(store, 'p', { pointer: '/a/b', by: 1 })).toStrictEqual({
      'a/b': 2,
      'm~n': 2,
      '~1': 2,
      a: { b: 6 },
    });
  });

  h.test('an increment sees earlier ops of its commit and rolls back with later ones', async (store) => {
    const heads = await commitOk(store, [
      op('p', 0, { n: 1 }),
      op('p', 0, null, { expectVersion: null, increment: { pointer: '/n', by: 10 } }),
    ]);
    expect(heads.map((head) => [head.version, head.doc])).toStrictEqual([
      [1, { n: 1 }],
      [2, { n: 11 }],
    ]);
    const before = await snapshot(store, ['p', 'q']);
    const result = await store.commit([
      op('p', 0, null, { expectVersion: null, increment: { pointer: '/n', by: 1 } }),
      op('q', 0, {}),
      op('p', 0, null, { expectVersion: null, increment: { pointer: '/n', by: -100, minimum: 0 } }),
    ]);
    expect(result).toMatchObject({ ok: false, index: 2, reason: 'out-of-bounds', value: 12 });
    expect(await snapshot(store, ['p', 'q'])).toStrictEqual(before);
  });
}
