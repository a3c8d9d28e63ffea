import { expect } from 'vitest';
import { InvalidCursorError, type Head, type ListOptions, type Store } from '../types.js';
import { C, type Harness, byteOrder, write } from './harness.suite.js';

/** Follows `next` to the end, checking that no page exceeds the limit. */
export async function listAll(
  store: Store,
  options: Omit<ListOptions, 'cursor'>,
  between?: (page: number) => Promise<void>,
): Promise<Head[]> {
  const items: Head[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const result = await store.list(C, { ...options, cursor });
    expect(result.items.length).toBeLessThanOrEqual(options.limit);
    items.push(...result.items);
    if (result.next === null) return items;
    cursor = result.next;
    await between?.(page);
  }
  throw new Error('list never ended');
}

const ids = (heads: readonly Head[]) => heads.map((head) => head.id);

/** Listing: order, tombstones, limit and cursor paging (filters are in filter.suite.ts). */
export function listTests(h: Harness): void {
  h.test('list returns live resources ordered by id in binary (code point) order', async (store) => {
    const names = ['b', 'B', 'a', 'a-1', 'a_1', 'aa', '10', '9', 'é', 'z', '~', '\uff21', '😀', 'Z'];
    for (const id of names) await write(store, id, { id });
    const page = await store.list(C, { limit: 100 });
    expect(ids(page.items)).toStrictEqual([...names].sort(byteOrder));
    expect(page.next).toBeNull();
    for (const item of page.items) expect(item).toStrictEqual(await store.get(C, item.id));
  });

  h.test('an empty collection lists nothing', async (store) => {
    await write(store, 'a', { n: 1 }, { collection: 'others' });
    expect(await store.list(C, { limit: 10 })).toStrictEqual({ items: [], next: null });
  });

  h.test('tombstones are not listed', async (store) => {
    for (const id of ['a', 'b', 'c', 'd']) await write(store, id, { id });
    await write(store, 'b', null);
    await write(store, 'd', null);
    await write(store, 'd', { back: true });
    expect(ids((await store.list(C, { limit: 10 })).items)).toStrictEqual(['a', 'c', 'd']);
    expect(ids(await listAll(store, { limit: 1 }))).toStrictEqual(['a', 'c', 'd']);
  });

  h.test('limit caps a page and next is null only on the last page', async (store) => {
    for (const id of ['a', 'b', 'c', 'd']) await write(store, id, { id });
    const first = await store.list(C, { limit: 2 });
    expect(ids(first.items)).toStrictEqual(['a', 'b']);
    expect(typeof first.next).toBe('string');
    const second = await store.list(C, { limit: 2, cursor: first.next ?? undefined });
    expect(ids(second.items)).toStrictEqual(['c', 'd']);
    expect(second.next).toBeNull();
    expect((await store.list(C, { limit: 4 })).next).toBeNull();
    expect((await store.list(C, { limit: 3 })).next).not.toBeNull();
  });

  h.test('cursor paging visits every item exactly once', async (store) => {
    const all: string[] = [];
    for (let i = 0; i < 57; i++) all.push(`item-${String(i).padStart(3, '0')}`);
    for (const id of [...all].reverse()) await write(store, id, { id });
    for (const limit of [1, 5, 56, 57, 1000]) {
      expect(ids(await listAll(store, { limit }))).toStrictEqual(all);
    }
  });

  h.test('cursor paging while items are added and deleted: no duplicates, no gaps', async (store) => {
    const original: string[] = [];
    for (let i = 0; i < 40; i++) original.push(`k${String(i * 10).padStart(4, '0')}`);
    for (const id of original) await write(store, id, { id });
    const deleted = new Set<string>();
    const seen = await listAll(store, { limit: 7 }, async (page) => {
      // New ids before and after the cursor position, and a delete of an item not yet reached.
      await write(store, `k${String(page * 70 + 5).padStart(4, '0')}`, { added: true });
      await write(store, `k${String(390 - page * 10 + 5).padStart(4, '0')}`, { added: true });
      const victim = original[original.length - 1 - page];
      if (victim !== undefined && page < 4 && page % 2 === 0) {
        await write(store, victim, null);
        deleted.add(victim);
      }
    });
    const seenIds = ids(seen);
    expect(new Set(seenIds).size).toBe(seenIds.length);
    expect([...seenIds].sort(byteOrder)).toStrictEqual(seenIds);
    for (const id of original) expect(seenIds.includes(id)).toBe(!deleted.has(id));
  });

  h.test('an invalid cursor throws InvalidCursorError', async (store) => {
    await write(store, 'a', { n: 1 });
    for (const cursor of ['not a cursor', '%%%', 'Zm9v', '{}', 'eyJ9', '____']) {
      await expect(store.list(C, { limit: 10, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    }
    // Well-formed cursors of ids no resource can have (PostgreSQL text cannot even hold them).
    for (const id of ['a\u0000', '\ud800', 'x\udc00y']) {
      const cursor = Buffer.from(JSON.stringify([C, id]), 'utf8').toString('base64url');
      await expect(store.list(C, { limit: 10, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });
}
