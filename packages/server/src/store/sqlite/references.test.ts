import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store, WriteOp } from '../types.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'truce-refs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Yields a random number of event-loop turns, so the racers' order changes from round to round. */
async function pause(): Promise<void> {
  for (let turns = Math.floor(Math.random() * 4); turns > 0; turns--) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const write = (
  collection: string,
  id: string,
  expectVersion: number,
  doc: WriteOp['doc'],
  extra: Partial<WriteOp> = {},
) => [{ collection, id, expectVersion, doc, actor: null, keepHistory: 10, ...extra }] as const;

/** Rows of the constraint tables that belong to, or point at, anything but a live head. */
function orphans(path: string) {
  const db = new Database(path, { readonly: true });
  const live = (c: string, i: string) =>
    `EXISTS (SELECT 1 FROM heads AS h WHERE h.collection = ${c} AND h.id = ${i} AND h.deleted = 0)`;
  const rows = {
    danglingTargets: db.prepare(`SELECT * FROM refs WHERE NOT ${live('to_collection', 'to_id')}`).all(),
    deadReferrers: db.prepare(`SELECT * FROM refs WHERE NOT ${live('from_collection', 'from_id')}`).all(),
    deadKeyHolders: db.prepare(`SELECT * FROM unique_keys WHERE NOT ${live('collection', 'id')}`).all(),
    refs: (db.prepare('SELECT count(*) AS n FROM refs').get() as { n: number }).n,
  };
  db.close();
  return rows;
}

describe('sqlite references across connections', () => {
  it('deletes racing referencing inserts on two connections leave no refs row at a tombstone', async () => {
    const path = join(dir, 'race', 'truce.db');
    const stores: Store[] = [openSqliteStore({ path }), openSqliteStore({ path })];
    const on = (k: number) => stores[k % 2] as Store;
    const outcomes = new Map<string, number>();
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    for (let round = 0; round < 40; round++) {
      const target = `u${round}`;
      await on(round).commit(
        write('users', target, 0, {}, { uniqueKeys: [{ constraint: 'name', key: target }] }),
      );
      await Promise.all([
        (async () => {
          const head = await on(round + 1).get('users', target);
          await pause();
          const result = await on(round + 1).commit(write('users', target, head?.version ?? 0, null));
          count(result.ok ? 'delete ok' : result.reason);
        })(),
        ...[0, 1, 2].map(async (k) => {
          await pause();
          const ref = { pointer: '/customer', collection: 'users', id: target };
          const result = await on(k).commit(
            write('orders', `o${round}-${k}`, 0, { customer: target }, { references: [ref] }),
          );
          count(result.ok ? 'insert ok' : result.reason);
        }),
      ]);
    }
    expect([...outcomes.keys()].sort()).toStrictEqual([
      'dangling-reference',
      'delete ok',
      'insert ok',
      'still-referenced',
    ]);
    expect((outcomes.get('delete ok') ?? 0) + (outcomes.get('still-referenced') ?? 0)).toBe(40);
    const result = orphans(path);
    expect(result).toStrictEqual({
      danglingTargets: [],
      deadReferrers: [],
      deadKeyHolders: [],
      refs: outcomes.get('insert ok'),
    });
    await Promise.all(stores.map((store) => store.close()));
  });
});
