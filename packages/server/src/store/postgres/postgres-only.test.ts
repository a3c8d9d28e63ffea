import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { describeWithPostgres, dropSchema, newSchemaName } from '../../../../../test/support/postgres.js';
import { StoreBusyError, type Head, type Rebased, type WriteOp } from '../types.js';
import { json, startTestServer } from '../../testing/harness.js';
import { openPostgresStore, type PostgresStore } from './postgres-store.js';
import { PG_SCHEMA_VERSION, quoteIdentifier } from './schema.js';
import { createStatements, REPLANNED } from './statements.js';
import { startPgProxy } from '../../../../../test/support/pg-proxy.js';

/*
 * What only the PostgreSQL adapter has: a schema migrated by processes starting together, answers
 * when PostgreSQL makes a transaction wait or gives up on it, and the NOTIFY other processes hear.
 * The behaviour every store shares is in the conformance suite (postgres-store.test.ts).
 */

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Plans?: readonly PlanNode[];
}

const increment = (id: string, by = 1): WriteOp => ({
  collection: 'things',
  id,
  expectVersion: null,
  doc: null,
  increment: { pointer: '/n', by },
  actor: null,
  keepHistory: 10,
});
const put = (id: string, doc: WriteOp['doc']): WriteOp => ({
  collection: 'things',
  id,
  expectVersion: 0,
  doc,
  actor: null,
  keepHistory: 10,
});

describeWithPostgres('postgres store: what only it has', (url) => {
  const schemas: string[] = [];
  const fresh = () => {
    const schema = newSchemaName('pgonly');
    schemas.push(schema);
    return schema;
  };
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(url, schema);
  });

  async function query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  it('eight processes opening one new schema at once all start; it is migrated once', async () => {
    const schema = fresh();
    const stores = await Promise.all(
      Array.from({ length: 8 }, () => openPostgresStore({ url, schema, poolSize: 2 })),
    );
    try {
      const rows = await query<{ version: number }>(`SELECT version FROM "${schema}".schema_version`);
      expect(rows).toStrictEqual([{ version: PG_SCHEMA_VERSION }]);
      // All of them work on the same tables.
      await stores[0]!.commit([put('a', { n: 1 })]);
      for (const store of stores) expect((await store.get('things', 'a'))?.version).toBe(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('a schema written by a newer Truce is refused', async () => {
    const schema = fresh();
    await (await openPostgresStore({ url, schema })).close();
    await query(`UPDATE "${schema}".schema_version SET version = $1`, [PG_SCHEMA_VERSION + 1]);
    await expect(openPostgresStore({ url, schema })).rejects.toThrow(/newer than this Truce supports/);
  });

  it('a row lock held past lockTimeoutMs is a StoreBusyError, and nothing is written', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, lockTimeoutMs: 200 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await store.commit([put('held', { n: 1 })]);
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM "${schema}".heads WHERE id = 'held' FOR UPDATE`);
      const error = await store.commit([increment('held')]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreBusyError);
      expect((error as StoreBusyError).retryAfterSeconds).toBeGreaterThan(0);
      await holder.query('ROLLBACK');
      expect((await store.get('things', 'held'))?.doc).toStrictEqual({ n: 1 });
      expect(await store.lastSeq()).toBe(1);
    } finally {
      await holder.end();
      await store.close();
    }
  });

  it('a commit that PostgreSQL picks as a deadlock victim is run again, and applies once', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 2 });
    const other = new pg.Client({ connectionString: url, application_name: 'truce-test-other' });
    await other.connect();
    try {
      await store.commit([put('x', { n: 0 }), put('y', { n: 0 })]);
      // Another session holds y; the store's commit locks x, then waits for y.
      await other.query('BEGIN');
      await other.query(`SELECT * FROM "${schema}".heads WHERE id = 'y' FOR UPDATE`);
      const committing = store.commit([increment('x'), increment('y')]);
      for (let waiting = false; !waiting;) {
        await new Promise((r) => setTimeout(r, 20));
        const rows = await query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM pg_stat_activity
           WHERE application_name = 'truce' AND wait_event_type = 'Lock' AND position($1 IN query) > 0`,
          [schema],
        );
        waiting = rows[0]!.n > 0;
      }
      // Now the other session wants x: a cycle. The store's transaction has waited longer, so its
      // deadlock check runs first and PostgreSQL aborts it; the other session then gets x.
      await new Promise((r) => setTimeout(r, 100));
      await other.query(`SELECT * FROM "${schema}".heads WHERE id = 'x' FOR UPDATE`);
      await other.query('COMMIT');
      const result = await committing;
      expect(result.ok).toBe(true);
      // Once: the aborted attempt left nothing behind.
      expect((await store.get('things', 'x'))?.doc).toStrictEqual({ n: 1 });
      expect((await store.get('things', 'y'))?.doc).toStrictEqual({ n: 1 });
      expect(await store.lastSeq()).toBe(4);
    } finally {
      await other.end();
      await store.close();
    }
  }, 30_000);

  it('a lease granted while a one-statement write waits for the resource is seen by that write', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 2 });
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      const now = Date.now();
      await store.commit([put('doc', { v: 1 })]);
      // Another process takes a lease, as lease() does: lock the head, then record the lease.
      await other.query('BEGIN');
      await other.query(`SELECT * FROM "${schema}".heads WHERE id = 'doc' FOR UPDATE`);
      const write = store.commit([{ ...put('doc', { v: 2 }), expectVersion: 1, lock: { token: null, now } }]);
      for (let waiting = false; !waiting;) {
        await new Promise((r) => setTimeout(r, 20));
        const rows = await query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM pg_stat_activity
           WHERE application_name = 'truce' AND wait_event_type = 'Lock' AND position($1 IN query) > 0`,
          [schema],
        );
        waiting = rows[0]!.n > 0;
      }
      await other.query(
        `UPDATE "${schema}".heads SET lease_token = 'tok', lease_owner = 'ann', lease_expires_at = $1 WHERE id = 'doc'`,
        [now + 60_000],
      );
      await other.query(
        `INSERT INTO "${schema}".leases (collection, id, token, owner, fencing, ttl_ms, expires_at)
         VALUES ('things', 'doc', 'tok', 'ann', 1, 60000, $1)`,
        [now + 60_000],
      );
      await other.query('COMMIT');
      expect(await write).toStrictEqual({
        ok: false,
        index: 0,
        reason: 'locked',
        owner: 'ann',
        expiresAt: now + 60_000,
      });
      expect((await store.get('things', 'doc'))?.version).toBe(1);
    } finally {
      await other.end();
      await store.close();
    }
  });

  it('a commit through one store wakes watchers of another store on the same schema', async () => {
    const schema = fresh();
    const a: PostgresStore = await openPostgresStore({ url, schema });
    const b: PostgresStore = await openPostgresStore({ url, schema });
    try {
      let woken = 0;
      const heard = new Promise<void>((resolve) => {
        const stop = a.watchCommits(() => {
          woken++;
          stop();
          resolve();
        });
      });
      // Give the listening connection time to LISTEN, then commit through the other store.
      for (let i = 0; woken === 0 && i < 50; i++) {
        await b.commit([{ ...put(`w${i}`, { i }) }]);
        await Promise.race([heard, new Promise((r) => setTimeout(r, 100))]);
      }
      await heard;
      expect(woken).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a reader following the feed never sees a sequence number before every lower one', async () => {
    // Three stores (three pools, as three processes would have) write at once, with plain writes,
    // increments and two-op commits; seqs are dense here, so any hole a reader sees is one that a
    // slower transaction would fill later, which is what must never happen.
    const schema = fresh();
    const stores = await Promise.all([0, 1, 2].map(() => openPostgresStore({ url, schema, poolSize: 6 })));
    try {
      await stores[0]!.commit([put('shared', { n: 0 })]);
      let writing = true;
      const seen: number[] = [];
      const reader = (async () => {
        let last = 0;
        while (writing || last < (await stores[2]!.lastSeq())) {
          const page = await stores[2]!.changes({ since: last, limit: 50 });
          for (const change of page) {
            expect(change.seq).toBe(last + 1);
            last = change.seq;
            seen.push(change.seq);
          }
        }
      })();
      const writer = async (w: number) => {
        const store = stores[w % 3]!;
        for (let i = 0; i < 12; i++) {
          if (i % 3 === 0) await store.commit([increment('shared')]);
          else if (i % 3 === 1) await store.commit([put(`w${w}-${i}`, { i })]);
          else await store.commit([put(`w${w}-${i}a`, { i }), increment('shared')]);
        }
      };
      await Promise.all(Array.from({ length: 18 }, (_, w) => writer(w)));
      writing = false;
      await reader;
      const total = await stores[0]!.lastSeq();
      expect(seen).toStrictEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect((await stores[1]!.get('things', 'shared'))?.doc).toStrictEqual({ n: 18 * 8 });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  }, 60_000);

  /** The transactions (by xmin) that wrote the given resources' current heads, one entry per resource. */
  async function writers(schema: string, ids: readonly string[]): Promise<Map<string, string>> {
    const rows = await query<{ id: string; tx: string }>(
      `SELECT id, xmin::text AS tx FROM "${schema}".heads WHERE collection = 'things' AND id = ANY($1)`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, r.tx]));
  }

  it('writes of one event-loop turn share one transaction, and a refused one fails alone', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 4 });
    try {
      await store.commit([put('taken', { n: 0 })]);
      await store.commit([
        { ...put('holder', { email: 'a@x' }), uniqueKeys: [{ constraint: 'email', key: 'a@x' }] },
      ]);
      await store.commit([put('leased', { n: 0 })]);
      // All queued in one turn: a plain create, a stale write, an increment, a create refused for
      // a unique key after it claimed its URL, a two-op batch refused at its second op, a dangling
      // reference, a lease, and an idempotent commit.
      const now = Date.now();
      const results = await Promise.all([
        store.commit([put('fresh', { n: 1 })]),
        store.commit([{ ...put('taken', { n: 9 }), expectVersion: 7 }]),
        store.commit([increment('taken', 5)]),
        store.commit([
          { ...put('dup', { email: 'a@x' }), uniqueKeys: [{ constraint: 'email', key: 'a@x' }] },
        ]),
        store.commit([put('half', { n: 1 }), { ...put('taken', { n: 2 }), expectVersion: 3 }]),
        store.commit([
          {
            ...put('dangling', { n: 1 }),
            references: [{ pointer: '/to', collection: 'things', id: 'nowhere' }],
          },
        ]),
        store.lease('things', 'leased', { action: 'acquire', token: null, owner: 'ann', ttlMs: 60_000, now }),
        store.commitIdempotent({
          claim: { scope: 's', key: 'k1', fingerprint: 'f', now, leaseMs: 10_000, expiresAt: now + 60_000 },
          ops: [put('keyed', { n: 1 })],
          answer: (r) => ({ status: r.ok ? 201 : 409, headers: {}, body: null }),
        }),
      ]);
      expect(results.map((r) => ('ok' in r ? r.ok : (r as { state: string }).state))).toStrictEqual([
        true,
        false,
        true,
        false,
        false,
        false,
        true,
        'claimed',
      ]);
      expect(results[1]).toMatchObject({ reason: 'version-mismatch' });
      expect(results[3]).toMatchObject({ reason: 'unique-violation', holder: 'holder' });
      expect(results[4]).toMatchObject({ index: 1, reason: 'version-mismatch' });
      expect(results[5]).toMatchObject({ reason: 'dangling-reference' });
      // Nothing of the refused calls stayed: no head (not even a placeholder), no key, no reference.
      const heads = await writers(schema, ['fresh', 'taken', 'dup', 'half', 'dangling', 'leased', 'keyed']);
      expect([...heads.keys()].sort()).toStrictEqual(['fresh', 'keyed', 'leased', 'taken']);
      expect(await query(`SELECT id FROM "${schema}".unique_keys`)).toStrictEqual([{ id: 'holder' }]);
      expect(await query(`SELECT from_id FROM "${schema}".refs`)).toStrictEqual([]);
      // The writes that went through committed in one transaction: one flush for all of them. (Rows
      // written inside a savepoint, like 'keyed', carry the id of their subtransaction instead.)
      expect(new Set([heads.get('fresh'), heads.get('taken'), heads.get('leased')]).size).toBe(1);
      expect((await store.get('things', 'taken'))?.doc).toStrictEqual({ n: 5 });
      expect(await query(`SELECT done, status FROM "${schema}".idempotency_keys`)).toStrictEqual([
        { done: true, status: 201 },
      ]);
    } finally {
      await store.close();
    }
  });

  it('feed readers stop below a number still in flight, and go on once its transaction ends', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 4 });
    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    try {
      await store.commit([put('a', { n: 1 })]);
      expect(await store.lastSeq()).toBe(1);
      // A transaction that took number 2 and has not ended, as a commit between its last statement
      // and the end of its flush would be.
      await slow.query('BEGIN');
      const [{ seqs }] = (await slow.query(`SELECT "${schema}".take_seqs(1) AS seqs`)).rows as [
        { seqs: string[] },
      ];
      expect(seqs.map(Number)).toStrictEqual([2]);
      await store.commit([put('b', { n: 1 })]);
      expect(await store.lastSeq()).toBe(1);
      expect((await store.changes({ since: 0, limit: 10 })).map((c) => c.id)).toStrictEqual(['a']);
      expect(await store.changes({ since: 1, limit: 10 })).toStrictEqual([]);
      // It rolls back: 2 is a gap for ever, and 3 can be read.
      await slow.query('ROLLBACK');
      expect(await store.lastSeq()).toBe(3);
      expect((await store.changes({ since: 1, limit: 10 })).map((c) => [c.seq, c.id])).toStrictEqual([
        [3, 'b'],
      ]);
    } finally {
      await slow.end();
      await store.close();
    }
  });

  it('a one-statement create that finds its second key taken gives its first back, within the group', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 4 });
    const keyed = (id: string, ...keys: [string, string][]): WriteOp => ({
      ...put(id, { id }),
      uniqueKeys: keys.map(([constraint, key]) => ({ constraint, key })),
    });
    try {
      expect(await store.commit([keyed('holder', ['phone', '555'])])).toMatchObject({ ok: true });
      // One turn: 'a' claims email x, finds phone 555 taken and gives x back; 'b', after it in key
      // order, then claims x.
      const [a, b] = await Promise.all([
        store.commit([keyed('a', ['email', 'x'], ['phone', '555'])]),
        store.commit([keyed('b', ['email', 'x'])]),
      ]);
      expect(a).toMatchObject({
        ok: false,
        reason: 'unique-violation',
        constraint: 'phone',
        key: '555',
        holder: 'holder',
      });
      expect(b).toMatchObject({ ok: true });
      expect(
        await query(`SELECT "constraint", "key", id FROM "${schema}".unique_keys ORDER BY id`),
      ).toStrictEqual([
        { constraint: 'email', key: 'x', id: 'b' },
        { constraint: 'phone', key: '555', id: 'holder' },
      ]);
      expect(await store.get('things', 'a')).toBeNull();
    } finally {
      await store.close();
    }
  });

  it('a call that meets a lock timeout fails alone; the rest of its group commits', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 4, lockTimeoutMs: 300 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await store.commit([put('held', { n: 1 })]);
      await store.commit([put('free', { n: 1 })]);
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM "${schema}".heads WHERE id = 'held' FOR UPDATE`);
      const [held, free, created] = await Promise.allSettled([
        store.commit([increment('held')]),
        store.commit([increment('free')]),
        store.commit([put('new', { n: 1 })]),
      ]);
      await holder.query('ROLLBACK');
      expect(held.status === 'rejected' && held.reason).toBeInstanceOf(StoreBusyError);
      expect(free).toMatchObject({ status: 'fulfilled', value: { ok: true } });
      expect(created).toMatchObject({ status: 'fulfilled', value: { ok: true } });
      expect((await store.get('things', 'held'))?.doc).toStrictEqual({ n: 1 });
      expect((await store.get('things', 'free'))?.doc).toStrictEqual({ n: 2 });
    } finally {
      await holder.end();
      await store.close();
    }
  });

  it('under group commit with refusals, a feed reader sees exactly the final feed, in order, never a number late', async () => {
    // Three stores (three processes' pools), each grouping its writes: every turn queues several
    // calls, some refused after they took their row locks, some two-op batches; leases too. Numbers
    // may have gaps now (a group run again after a deadlock leaves some unused), so the check is
    // that a reader following the feed saw exactly what the feed holds at the end, in order: had it
    // skipped a number that became visible later, that number would be missing from what it saw.
    const schema = fresh();
    const stores = await Promise.all(
      [0, 1, 2].map(() => openPostgresStore({ url, schema, poolSize: 6, groupCommit: { maxGroups: 2 } })),
    );
    try {
      await stores[0]!.commit([put('shared', { n: 0 })]);
      let writing = true;
      const seen: number[] = [];
      const reader = async () => {
        let last = 0;
        while (writing || last < (await stores[2]!.lastSeq())) {
          for (const change of await stores[2]!.changes({ since: last, limit: 37 })) {
            expect(change.seq).toBeGreaterThan(last);
            last = change.seq;
            seen.push(change.seq);
          }
        }
      };
      const reading = reader();
      let applied = 0;
      const writer = async (w: number) => {
        const store = stores[w % 3]!;
        for (let i = 0; i < 10; i++) {
          const results = await Promise.all([
            store.commit([increment('shared')]),
            store.commit([put(`w${w}-${i}`, { i })]),
            store.commit([{ ...put(`w${w}-${i}`, { i }), expectVersion: 0 }]),
            store.commit([put(`w${w}-${i}b`, { i }), increment('shared')]),
            store.commit([put(`w${w}-${i}c`, { i }), { ...put('shared', { n: -1 }), expectVersion: 1 }]),
          ]);
          expect(results[0]).toMatchObject({ ok: true });
          expect(results[3]).toMatchObject({ ok: true });
          expect(results[4]).toMatchObject({ ok: false, index: 1 });
          // Of the two creates of one URL in one turn, exactly one wins.
          expect([results[1], results[2]].filter((r) => r.ok)).toHaveLength(1);
          applied += 2;
        }
      };
      await Promise.all(Array.from({ length: 12 }, (_, w) => writer(w)));
      writing = false;
      await reading;
      const all = await stores[1]!.changes({ since: 0, limit: 100_000 });
      expect(seen).toStrictEqual(all.map((c) => c.seq));
      // One create, one increment, and the batch's create and increment per turn; the seed.
      expect(all).toHaveLength(1 + 12 * 10 * 4);
      expect((await stores[1]!.get('things', 'shared'))?.doc).toStrictEqual({ n: applied });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  }, 90_000);

  it('a write based on an older version is made again on the locked head, inside the group', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, poolSize: 4 });
    try {
      await store.commit([put('hot', { a: 0 })]);
      await store.commit([{ ...put('hot', { a: 1 }), expectVersion: 1 }]);
      // Based on version 1, now at 2: the rebase sees version 2, and its document lands as 3.
      const seen: number[] = [];
      const field =
        (name: string) =>
        async (head: Head | null): Promise<Rebased> => {
          seen.push(head!.version);
          return { doc: { ...head!.doc, [name]: true } };
        };
      const one = await store.commit([
        { ...put('hot', { stale: true }), expectVersion: 1, rebase: field('b') },
      ]);
      expect(one).toMatchObject({ ok: true, heads: [{ version: 3, doc: { a: 1, b: true } }] });
      expect(seen).toStrictEqual([2]);

      // One turn: five writers all based on version 3 (the first of them applies as sent), one
      // whose rebase throws, one whose rebase wants unique keys the batched path does not write,
      // and one without a rebase. Each writer sees what the one before it left.
      seen.length = 0;
      const based = (doc: WriteOp['doc'], rebase?: WriteOp['rebase']): WriteOp => ({
        ...put('hot', doc),
        expectVersion: 3,
        rebase,
      });
      const results = await Promise.all([
        store.commit([based({ a: 1, b: true, c0: true }, field('c0'))]),
        store.commit([based({}, field('c1'))]),
        store.commit([
          based({}, async (head) => {
            seen.push(head!.version);
            throw new Error('a check failed on the newer head');
          }),
        ]),
        store.commit([based({}, field('c2'))]),
        store.commit([
          based({}, async (head) => {
            seen.push(head!.version);
            return { doc: {}, uniqueKeys: [{ constraint: 'k', key: 'v' }] };
          }),
        ]),
        store.commit([based({})]),
        store.commit([based({}, field('c3'))]),
        store.commit([based({}, field('c4'))]),
      ]);
      expect(results.map((r) => (r.ok ? r.heads[0]!.version : r.reason))).toStrictEqual([
        4,
        5,
        'version-mismatch',
        6,
        'version-mismatch',
        'version-mismatch',
        7,
        8,
      ]);
      expect(seen).toStrictEqual([4, 5, 5, 6, 6, 7]);
      expect(results[5]).toMatchObject({ current: { version: 6 } });
      expect((await store.get('things', 'hot'))?.doc).toStrictEqual({
        a: 1,
        b: true,
        c0: true,
        c1: true,
        c2: true,
        c3: true,
        c4: true,
      });
      // One transaction, so one WAL flush, carried all five.
      const txs = await query<{ tx: string }>(
        `SELECT DISTINCT xmin::text AS tx FROM "${schema}".changes WHERE id = 'hot' AND version BETWEEN 4 AND 8`,
      );
      expect(txs).toHaveLength(1);

      // The general path (a collection with unique keys) makes the write again too, keys included.
      await store.commit([
        { ...put('keyed', { email: 'a@x' }), uniqueKeys: [{ constraint: 'email', key: 'a@x' }] },
      ]);
      await store.commit([
        {
          ...put('keyed', { email: 'b@x' }),
          expectVersion: 1,
          uniqueKeys: [{ constraint: 'email', key: 'b@x' }],
        },
      ]);
      const remade = await store.commit([
        {
          ...put('keyed', { email: 'c@x' }),
          expectVersion: 1,
          uniqueKeys: [{ constraint: 'email', key: 'c@x' }],
          rebase: async (head) => ({
            doc: { email: 'c@x', was: head!.doc!.email! },
            uniqueKeys: [{ constraint: 'email', key: 'c@x' }],
          }),
        },
      ]);
      expect(remade).toMatchObject({ ok: true, heads: [{ version: 3, doc: { email: 'c@x', was: 'b@x' } }] });
      expect(await query(`SELECT key FROM "${schema}".unique_keys WHERE id = 'keyed'`)).toStrictEqual([
        { key: 'c@x' },
      ]);
    } finally {
      await store.close();
    }
  });

  it('48 writers merging into one document over HTTP land in a few transactions, each answered as its own merge', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema });
    const server = await startTestServer('collections: { docs: { history: { keep: 100 } } }', { store });
    try {
      const created = await server.request('/docs/hot', json({ title: 'plan' }));
      const base = created.headers.get('etag')!;
      const writers = 48;
      const answers = await Promise.all(
        Array.from({ length: writers }, (_, w) =>
          server.request('/docs/hot', {
            method: 'PATCH',
            headers: {
              'content-type': 'application/merge-patch+json',
              'truce-base': base,
              'truce-actor': `writer-${w}`,
            },
            body: JSON.stringify({ [`f${w}`]: w }),
          }),
        ),
      );
      const versions = [];
      for (const res of answers) {
        expect(res.status).toBe(200);
        const body = (await res.json()) as { _version: number };
        versions.push(body._version);
        // Exactly one writer's base was still current when it landed; every other one merged.
        if (body._version === 2) expect(res.headers.get('truce-merged')).toBeNull();
        else expect(res.headers.get('truce-merged')).toBe(base);
      }
      expect(versions.sort((a, b) => a - b)).toStrictEqual(Array.from({ length: writers }, (_, i) => i + 2));
      const final = (await (await server.request('/docs/hot')).json()) as Record<string, unknown>;
      expect(final).toMatchObject({ title: 'plan', _version: writers + 1 });
      for (let w = 0; w < writers; w++) expect(final[`f${w}`]).toBe(w);
      // Without remaking writes in the commit, each transaction could land one of them (48).
      const txs = await query<{ tx: string }>(
        `SELECT DISTINCT xmin::text AS tx FROM "${schema}".changes WHERE id = 'hot' AND version > 1`,
      );
      expect(txs.length).toBeLessThan(writers / 3);
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('a write whose newer head refuses it is answered by the next round: edit conflicts and stale If-Match', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema });
    const server = await startTestServer('collections: { docs: {} }', { store });
    const patch = (body: unknown, headers: Record<string, string>) =>
      server.request('/docs/d', {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json', ...headers },
        body: JSON.stringify(body),
      });
    try {
      const base = (await server.request('/docs/d', json({ title: 'a', owner: 'x' }))).headers.get('etag')!;
      // In one turn: two merges of the same field from the same base, and a write whose If-Match
      // is the base. One title lands; the other merge overlaps it, the If-Match is stale.
      const [first, second, matched] = await Promise.all([
        patch({ title: 'b' }, { 'truce-base': base, 'truce-actor': 'ann' }),
        patch({ title: 'c' }, { 'truce-base': base, 'truce-actor': 'bob' }),
        patch({ owner: 'y' }, { 'if-match': base, 'truce-actor': 'cy' }),
      ]);
      const statuses = [first.status, second.status, matched.status];
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      const loser = first.status === 200 ? second : first;
      const winner = first.status === 200 ? 'ann' : 'bob';
      expect(loser.status).toBe(409);
      expect(await loser.json()).toMatchObject({
        code: 'edit-conflict',
        conflicts: [{ pointer: '/title', changedBy: winner }],
        current: { _version: 2 },
      });
      expect(matched.status).toBe(412);
      expect(await matched.json()).toMatchObject({ code: 'stale-write', currentEtag: expect.any(String) });
      expect(await (await server.request('/docs/d')).json()).toMatchObject({ owner: 'x', _version: 2 });
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('every prepared statement keeps key lookups in a plan made on empty tables, but those of REPLANNED', async () => {
    // PostgreSQL keeps a prepared statement's generic plan until its tables are next analyzed,
    // while they grow: on a fresh schema, one made for empty tables must not scan or hash a whole
    // table. The statements that would are REPLANNED: unnamed until the tables have statistics.
    const schema = fresh();
    await (await openPostgresStore({ url, schema })).close();
    const prepared = createStatements(quoteIdentifier(schema), false);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const wholeTables: Record<string, string[]> = {};
    try {
      await client.query('SET plan_cache_mode = force_generic_plan');
      for (const [key, statement] of Object.entries(prepared)) {
        expect(statement.name).toBe(`truce_${key}`);
        await client.query('BEGIN');
        try {
          await client.query(`PREPARE probe AS ${statement.text}`);
          const [{ types }] = (
            await client.query<{ types: string[] }>(
              `SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = 'probe'`,
            )
          ).rows as [{ types: string[] }];
          const values = types.map((t) =>
            t.endsWith('[]') ? `'{}'` : /int|numeric/.test(t) ? '1' : t === 'boolean' ? 'true' : `'x'`,
          );
          const args = values.length > 0 ? `(${values.join(', ')})` : '';
          const [row] = (
            await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
              `EXPLAIN (FORMAT JSON) EXECUTE probe${args}`,
            )
          ).rows;
          const found: string[] = [];
          const visit = (node: PlanNode) => {
            const type = node['Node Type'];
            if (type === 'Seq Scan' || /^Hash .*Join$|^Hash Join$/.test(type))
              found.push(`${type}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}`);
            for (const child of node.Plans ?? []) visit(child);
          };
          visit(row!['QUERY PLAN'][0].Plan);
          if (found.length > 0) wholeTables[key] = found;
        } finally {
          await client.query('ROLLBACK');
          await client.query('DEALLOCATE ALL');
        }
      }
    } finally {
      await client.end();
    }
    expect(Object.keys(wholeTables).sort()).toStrictEqual([...REPLANNED].sort());
    const replanned = createStatements(quoteIdentifier(schema), true);
    const unnamed = Object.entries(replanned).filter(([, st]) => st.name === undefined);
    expect(unnamed.map(([key]) => key).sort()).toStrictEqual([...REPLANNED].sort());
  });

  it('a store sends REPLANNED statements unnamed until the tables are analyzed, then prepared', async () => {
    const schema = fresh();
    const proxy = await startPgProxy(url);
    const store = await openPostgresStore({ url: proxy.url, schema, poolSize: 2 });
    const finish = createStatements(quoteIdentifier(schema), true).finish;
    let unnamed = 0;
    let named = 0;
    void proxy.cutAfter((m) => {
      if (m.type === 'P' && m.text.includes(finish.text)) unnamed++;
      if (m.type === 'B' && m.text.includes('truce_finish')) named++;
      return false;
    });
    try {
      await store.commit([put('a', { n: 0 })]);
      for (let n = 1; n <= 3; n++) await store.commit([{ ...put('a', { n }), expectVersion: n }]);
      expect([unnamed, named]).toStrictEqual([3, 0]);
      await query(`ANALYZE "${schema}".heads, "${schema}".changes`);
      // The store looks again at most every 2 s, without waiting for the answer.
      let version = 4;
      const deadline = Date.now() + 10_000;
      while (named === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        await store.commit([{ ...put('a', { n: version }), expectVersion: version }]);
        version++;
      }
      expect(named).toBeGreaterThan(0);
      const before = unnamed;
      await store.commit([{ ...put('a', { n: version }), expectVersion: version }]);
      expect(unnamed).toBe(before);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('a lock held too long is answered 503 busy with Retry-After through HTTP, and nothing is written', async () => {
    const schema = fresh();
    const store = await openPostgresStore({ url, schema, lockTimeoutMs: 200 });
    const server = await startTestServer('collections: { things: {} }', { store });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      expect((await server.request('/things/held', json({ n: 1 }))).status).toBe(201);
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM "${schema}".heads WHERE id = 'held' FOR UPDATE`);
      const res = await server.request('/things/held', json({ n: 2 }));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toMatchObject({ code: 'busy', retryable: true });
      await holder.query('ROLLBACK');
      expect(await (await server.request('/things/held')).json()).toMatchObject({ n: 1, _version: 1 });
    } finally {
      await holder.end();
      await server.close();
      await store.close();
    }
  });
});
