import { expect } from 'vitest';
import type { Head, Store, VersionRecord } from '../types.js';
import { C, type Harness, allHistory, write } from './harness.suite.js';

/** Writes `count` versions of `id` and returns their heads, oldest first. */
async function writes(store: Store, id: string, count: number, keepHistory = 1000): Promise<Head[]> {
  const heads: Head[] = [];
  for (let n = 1; n <= count; n++) heads.push(await write(store, id, { n }, { keepHistory }));
  return heads;
}

const versions = (records: readonly VersionRecord[]) => records.map((v) => v.version);

/** Version history: order, paging, retention, lookups by number and by entity-tag. */
export function historyTests(h: Harness): void {
  h.test('history is newest first and carries op, doc, etag, timestamps and actor', async (store) => {
    const created = await write(store, 'a', { n: 1 }, { actor: 'alice' });
    const updated = await write(store, 'a', { n: 2 }, { actor: 'bob' });
    const deleted = await write(store, 'a', null);
    const recreated = await write(store, 'a', { n: 3 }, { actor: 'carol' });
    const record = (head: Head, op: VersionRecord['op']): VersionRecord => ({
      version: head.version,
      etag: head.etag,
      op,
      doc: head.doc,
      createdAt: head.createdAt,
      at: head.updatedAt,
      by: head.updatedBy,
    });
    expect(await allHistory(store, 'a')).toStrictEqual([
      record(recreated, 'create'),
      record(deleted, 'delete'),
      record(updated, 'update'),
      record(created, 'create'),
    ]);
  });

  h.test('history of an unknown resource is empty', async (store) => {
    await write(store, 'a', { n: 1 });
    expect(await store.history(C, 'b', { limit: 10 })).toStrictEqual([]);
    expect(await store.history('others', 'a', { limit: 10 })).toStrictEqual([]);
  });

  h.test('history limit and before page through all versions', async (store) => {
    await writes(store, 'a', 10);
    expect(versions(await store.history(C, 'a', { limit: 3 }))).toStrictEqual([10, 9, 8]);
    const seen: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await store.history(C, 'a', { limit: 3, before });
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(3);
      seen.push(...versions(page));
      before = page[page.length - 1]?.version;
    }
    expect(seen).toStrictEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(versions(await store.history(C, 'a', { limit: 100, before: 4 }))).toStrictEqual([3, 2, 1]);
    expect(await store.history(C, 'a', { limit: 100, before: 1 })).toStrictEqual([]);
  });

  h.test('retention keeps exactly keepHistory newest versions', async (store) => {
    const heads = await writes(store, 'a', 10, 3);
    expect(versions(await allHistory(store, 'a'))).toStrictEqual([10, 9, 8]);
    expect(await store.version(C, 'a', 7)).toBeNull();
    expect(await store.versionByEtag(C, 'a', heads[0]?.etag ?? '')).toBeNull();
    expect((await store.version(C, 'a', 8))?.doc).toStrictEqual({ n: 8 });
  });

  h.test('keepHistory 1 keeps only the current version', async (store) => {
    await writes(store, 'a', 5, 1);
    await write(store, 'a', null, { keepHistory: 1 });
    expect(await allHistory(store, 'a')).toMatchObject([{ version: 6, op: 'delete', doc: null }]);
  });

  h.test('retention is per resource', async (store) => {
    for (let n = 1; n <= 8; n++) {
      await write(store, 'a', { n }, { keepHistory: 2 });
      await write(store, 'b', { n }, { keepHistory: 5 });
      await write(store, 'a', { n }, { keepHistory: 2, collection: 'others' });
    }
    expect(versions(await allHistory(store, 'a'))).toStrictEqual([8, 7]);
    expect(versions(await allHistory(store, 'b'))).toStrictEqual([8, 7, 6, 5, 4]);
    expect(versions(await allHistory(store, 'a', 'others'))).toStrictEqual([8, 7]);
  });

  h.test('a lower keepHistory trims older entries at the next write', async (store) => {
    await writes(store, 'a', 6, 10);
    expect(await allHistory(store, 'a')).toHaveLength(6);
    await write(store, 'a', { n: 7 }, { keepHistory: 2 });
    expect(versions(await allHistory(store, 'a'))).toStrictEqual([7, 6]);
  });

  h.test('version returns one past version, or null', async (store) => {
    const heads = await writes(store, 'a', 3);
    await write(store, 'b', { other: true });
    const second = await store.version(C, 'a', 2);
    expect(second).toMatchObject({ version: 2, etag: heads[1]?.etag, op: 'update', doc: { n: 2 } });
    expect(await store.version(C, 'a', 4)).toBeNull();
    expect(await store.version(C, 'a', 0)).toBeNull();
    expect(await store.version(C, 'nothing', 1)).toBeNull();
    expect(await store.version('others', 'a', 1)).toBeNull();
  });

  h.test('versionByEtag finds the version that carried the etag, or null', async (store) => {
    const heads = await writes(store, 'a', 3);
    const b = await write(store, 'b', { n: 1 });
    for (const head of heads) {
      expect((await store.versionByEtag(C, 'a', head.etag))?.version).toBe(head.version);
    }
    expect(await store.versionByEtag(C, 'a', b.etag)).toBeNull();
    expect(await store.versionByEtag(C, 'a', '"nope"')).toBeNull();
    expect(await store.versionByEtag('others', 'a', heads[0]?.etag ?? '')).toBeNull();
  });

  h.test('versionByEtag is exact whatever the version an etag seems to name', async (store) => {
    const heads = await writes(store, 'a', 3, 2);
    // The tags the store makes name their version ("<version base 36>-<random>"): one with the
    // version of a retained entry but another random part was never handed out.
    const [, random] = heads[2]!.etag.slice(1, -1).split('-');
    expect(
      await store.versionByEtag(C, 'a', `"3-${random === 'AAAAAAAA' ? 'BBBBBBBB' : 'AAAAAAAA'}"`),
    ).toBeNull();
    // Version 1 has left the history (2 kept).
    expect(await store.versionByEtag(C, 'a', heads[0]!.etag)).toBeNull();
    // Tags given by the caller (WriteOp.etag) are found whatever their form, even one that looks
    // like another version's.
    const given = await write(store, 'a', { n: 4 }, { etag: '"2-AAAAAAAA"' });
    const foreign = await write(store, 'a', { n: 5 }, { etag: '"from-a-backup"' });
    expect(await store.versionByEtag(C, 'a', given.etag)).toMatchObject({ version: 4, doc: { n: 4 } });
    expect(await store.versionByEtag(C, 'a', foreign.etag)).toMatchObject({ version: 5, doc: { n: 5 } });
  });
}
