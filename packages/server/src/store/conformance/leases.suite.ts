import { expect } from 'vitest';
import type { Lease, LeaseResult, Store, WriteOp } from '../types.js';
import { C, type Harness, allChanges, jitter, op, snapshot, write } from './harness.suite.js';

/** The injected clock every test starts from (epoch ms); time moves only when a test says so. */
const T0 = 1_700_000_000_000;
const TTL = 30_000;

/** Takes a new lease, failing the test unless it is granted. */
async function acquire(
  store: Store,
  id: string,
  owner: string | null,
  now = T0,
  ttlMs = TTL,
): Promise<Lease> {
  return granted(await store.lease(C, id, { action: 'acquire', token: null, owner, ttlMs, now }), 'acquired');
}

function granted(result: LeaseResult, outcome: 'acquired' | 'renewed' | 'released'): Lease {
  if (!result.ok) throw new Error(`Expected the lease to be ${outcome}, got ${result.reason}.`);
  expect(result.outcome).toBe(outcome);
  return result.lease;
}

/** The `lock` of a write made at `now` showing `token` (null: none). */
const lock = (token: string | null, now = T0): Partial<WriteOp> => ({ lock: { token, now } });

/** Leases (SPEC 3.9): pessimistic locks with a token, an owner, an expiry and a fencing number. */
export function leaseTests(h: Harness): void {
  h.test('a lease is acquired, renewed under its token, and released', async (store) => {
    await write(store, 'doc', { n: 1 });
    const lease = await acquire(store, 'doc', 'alice');
    expect(lease).toStrictEqual({
      collection: C,
      id: 'doc',
      token: lease.token,
      owner: 'alice',
      fencing: 1,
      ttlMs: TTL,
      expiresAt: T0 + TTL,
    });
    expect(lease.token).toMatch(/^[A-Za-z0-9_-]{20,}$/);

    // A renewal keeps token, owner and fencing, and counts the expiry from its own `now`.
    const renew = (now: number, ttlMs?: number, owner: string | null = 'mallory') =>
      store.lease(C, 'doc', {
        action: 'acquire',
        token: lease.token,
        owner,
        now,
        ...(ttlMs ? { ttlMs } : {}),
      });
    const longer = granted(await renew(T0 + 10_000, 60_000), 'renewed');
    expect(longer).toStrictEqual({ ...lease, ttlMs: 60_000, expiresAt: T0 + 70_000 });
    // Without a ttl, a renewal reuses the lease's own.
    const again = granted(await renew(T0 + 20_000), 'renewed');
    expect(again).toStrictEqual({ ...lease, ttlMs: 60_000, expiresAt: T0 + 80_000 });

    const released = await store.lease(C, 'doc', { action: 'release', token: lease.token, now: T0 + 30_000 });
    expect(granted(released, 'released')).toStrictEqual(again);
    // Released: anyone may take the next one, which has a new token and the next fencing number.
    const next = await acquire(store, 'doc', 'bob', T0 + 30_000);
    expect(next.fencing).toBe(2);
    expect(next.token).not.toBe(lease.token);
  });

  h.test('a live lease refuses other acquirers and says who holds it until when', async (store) => {
    await write(store, 'doc', { n: 1 });
    const lease = await acquire(store, 'doc', 'alice');
    for (const owner of ['bob', 'alice', null]) {
      expect(
        await store.lease(C, 'doc', { action: 'acquire', token: null, owner, ttlMs: TTL, now: T0 + 1 }),
      ).toStrictEqual({ ok: false, reason: 'locked', owner: 'alice', expiresAt: lease.expiresAt });
    }
    // A lease without an owner is reported as such.
    await write(store, 'anon', { n: 1 });
    const anon = await acquire(store, 'anon', null);
    expect(
      await store.lease(C, 'anon', { action: 'acquire', token: null, owner: 'bob', ttlMs: TTL, now: T0 }),
    ).toStrictEqual({ ok: false, reason: 'locked', owner: null, expiresAt: anon.expiresAt });
  });

  h.test('an expired lease counts as released', async (store) => {
    await write(store, 'doc', { n: 1 });
    const lease = await acquire(store, 'doc', 'alice');
    const at = lease.expiresAt; // live while now < expiresAt
    const renewLate = { action: 'acquire', token: lease.token, owner: 'alice', ttlMs: TTL, now: at } as const;
    expect(await store.lease(C, 'doc', renewLate)).toStrictEqual({ ok: false, reason: 'token-mismatch' });
    expect(await store.lease(C, 'doc', { action: 'release', token: lease.token, now: at })).toStrictEqual({
      ok: false,
      reason: 'token-mismatch',
    });
    // A write without the token goes through once the lease has expired, and one with it too.
    await write(store, 'doc', { n: 2 }, lock(null, at));
    await write(store, 'doc', { n: 3 }, lock(lease.token, at + 1));
    const next = await acquire(store, 'doc', 'bob', at);
    expect(next.fencing).toBe(2);
    // One millisecond earlier, the first lease was still live.
    await write(store, 'other', { n: 1 });
    const first = await acquire(store, 'other', 'alice');
    expect(
      await store.lease(C, 'other', {
        action: 'acquire',
        token: null,
        owner: 'bob',
        ttlMs: TTL,
        now: at - 1,
      }),
    ).toMatchObject({ ok: false, reason: 'locked', expiresAt: first.expiresAt });
  });

  h.test('release and renew need the token of the live lease', async (store) => {
    await write(store, 'doc', { n: 1 });
    const lease = await acquire(store, 'doc', 'alice');
    const mismatch = { ok: false, reason: 'token-mismatch' };
    for (const token of ['wrong', '', lease.token.toUpperCase(), `${lease.token} `]) {
      expect(await store.lease(C, 'doc', { action: 'release', token, now: T0 + 1 })).toStrictEqual(mismatch);
      expect(
        await store.lease(C, 'doc', { action: 'acquire', token, owner: 'alice', ttlMs: TTL, now: T0 + 1 }),
      ).toStrictEqual(mismatch);
    }
    // Nothing changed: the lease is still live, with its expiry.
    expect(
      await store.lease(C, 'doc', { action: 'acquire', token: null, owner: 'bob', ttlMs: TTL, now: T0 + 2 }),
    ).toStrictEqual({ ok: false, reason: 'locked', owner: 'alice', expiresAt: lease.expiresAt });
    granted(await store.lease(C, 'doc', { action: 'release', token: lease.token, now: T0 + 3 }), 'released');
    // Released once; a second release finds no live lease.
    expect(await store.lease(C, 'doc', { action: 'release', token: lease.token, now: T0 + 4 })).toStrictEqual(
      mismatch,
    );
  });

  h.test('a lease needs a live resource', async (store) => {
    const request = { action: 'acquire', token: null, owner: 'alice', ttlMs: TTL, now: T0 } as const;
    expect(await store.lease(C, 'ghost', request)).toStrictEqual({ ok: false, reason: 'not-found' });
    expect(await store.lease(C, 'ghost', { action: 'release', token: 'x', now: T0 })).toStrictEqual({
      ok: false,
      reason: 'not-found',
    });
    await write(store, 'gone', { n: 1 });
    await write(store, 'gone', null);
    expect(await store.lease(C, 'gone', request)).toStrictEqual({ ok: false, reason: 'not-found' });
    // Another collection is another resource.
    await write(store, 'doc', { n: 1 });
    expect(await store.lease('elsewhere', 'doc', request)).toStrictEqual({ ok: false, reason: 'not-found' });
  });

  h.test('a delete ends the lease; the fencing number carries on after a re-create', async (store) => {
    await write(store, 'doc', { n: 1 });
    const lease = await acquire(store, 'doc', 'alice');
    await write(store, 'doc', null, lock(lease.token, T0 + 1));
    const request = {
      action: 'acquire',
      token: lease.token,
      owner: 'alice',
      ttlMs: TTL,
      now: T0 + 2,
    } as const;
    expect(await store.lease(C, 'doc', request)).toStrictEqual({ ok: false, reason: 'not-found' });
    // Re-created by anyone, with no lease on it.
    await write(store, 'doc', { n: 2 }, lock(null, T0 + 3));
    expect(await store.lease(C, 'doc', request)).toStrictEqual({ ok: false, reason: 'token-mismatch' });
    expect((await acquire(store, 'doc', 'bob', T0 + 4)).fencing).toBe(2);
  });

  h.test('fencing numbers strictly increase across many leases', async (store) => {
    await write(store, 'doc', { n: 0 });
    const leases: Lease[] = [];
    let now = T0;
    for (let i = 0; i < 30; i++) {
      const lease = await acquire(store, 'doc', `owner-${i}`, now, 1000);
      leases.push(lease);
      // Renewals in between change neither the token nor the fencing number.
      const renewed = granted(
        await store.lease(C, 'doc', { action: 'acquire', token: lease.token, owner: null, now: now + 10 }),
        'renewed',
      );
      expect([renewed.token, renewed.fencing]).toStrictEqual([lease.token, lease.fencing]);
      if (i % 3 === 0) {
        granted(
          await store.lease(C, 'doc', { action: 'release', token: lease.token, now: now + 20 }),
          'released',
        );
        now += 20;
      } else if (i % 3 === 1) {
        now = renewed.expiresAt; // let it expire
      } else {
        await write(store, 'doc', null, lock(lease.token, now + 20));
        await write(store, 'doc', { n: i }, lock(null, now + 30));
        now += 30;
      }
    }
    expect(leases.map((l) => l.fencing)).toStrictEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(leases.map((l) => l.token)).size).toBe(30);
    // Each resource counts on its own.
    await write(store, 'other', { n: 0 });
    expect((await acquire(store, 'other', 'x', now)).fencing).toBe(1);
  });

  h.test('while a lease is live, only writes with its token commit', async (store) => {
    await write(store, 'doc', { n: 1 });
    await write(store, 'free', { n: 1 });
    const lease = await acquire(store, 'doc', 'alice');
    const before = await snapshot(store, ['doc', 'free']);
    const head = (await store.get(C, 'doc'))!;
    const locked = { ok: false, reason: 'locked', owner: 'alice', expiresAt: lease.expiresAt };

    const attempts: WriteOp[] = [
      op('doc', head.version, { n: 2 }, lock(null, T0 + 1)),
      op('doc', head.version, { n: 2 }, lock('wrong', T0 + 1)),
      op('doc', head.version, null, lock(null, T0 + 1)),
      op('doc', null, null, { increment: { pointer: '/n', by: 1 }, ...lock(null, T0 + 1) }),
      // Refused whatever version it was based on: the lease is checked first.
      op('doc', head.version + 5, { n: 2 }, lock(null, T0 + 1)),
    ];
    for (const attempt of attempts) {
      expect(await store.commit([attempt])).toStrictEqual({ ...locked, index: 0 });
    }
    // In a commit of several ops, the op on the leased resource fails the whole commit.
    expect(
      await store.commit([
        op('free', 1, { n: 2 }, lock(null, T0 + 1)),
        op('doc', head.version, { n: 2 }, lock(null, T0 + 1)),
      ]),
    ).toStrictEqual({ ...locked, index: 1 });
    expect(await snapshot(store, ['doc', 'free'])).toStrictEqual(before);

    // The holder writes with its token; a write that does not ask for the check is not refused.
    const mine = await write(store, 'doc', { n: 2 }, lock(lease.token, T0 + 2));
    expect(mine.doc).toStrictEqual({ n: 2 });
    await write(store, 'doc', { n: 3 });
    // Writing does not end the lease.
    expect(await store.commit([op('doc', 3, { n: 4 }, lock(null, T0 + 3))])).toStrictEqual({
      ...locked,
      index: 0,
    });
    granted(await store.lease(C, 'doc', { action: 'release', token: lease.token, now: T0 + 4 }), 'released');
    await write(store, 'doc', { n: 4 }, lock(null, T0 + 5));
  });

  h.test('a lease changes no resource and appends no change', async (store) => {
    await write(store, 'doc', { n: 1 });
    const before = await snapshot(store, ['doc']);
    const lease = await acquire(store, 'doc', 'alice');
    granted(
      await store.lease(C, 'doc', { action: 'acquire', token: lease.token, owner: null, now: T0 + 1 }),
      'renewed',
    );
    granted(await store.lease(C, 'doc', { action: 'release', token: lease.token, now: T0 + 2 }), 'released');
    expect(await snapshot(store, ['doc'])).toStrictEqual(before);
  });

  h.test('20 concurrent acquirers: exactly one gets the lease', async (store) => {
    await write(store, 'doc', { n: 1 });
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await jitter();
        return store.lease(C, 'doc', { action: 'acquire', token: null, owner: `w${i}`, ttlMs: TTL, now: T0 });
      }),
    );
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    if (!winner.ok) throw new Error('unreachable');
    expect(winner.lease.fencing).toBe(1);
    for (const r of results) {
      if (r !== winner) {
        expect(r).toStrictEqual({
          ok: false,
          reason: 'locked',
          owner: winner.lease.owner,
          expiresAt: T0 + TTL,
        });
      }
    }
  });

  h.test('writes racing a lease acquisition: none without the token commits after it', async (store) => {
    let committed = 0;
    let refused = 0;
    for (let round = 0; round < 10; round++) {
      const id = `r${round}`;
      await write(store, id, { n: 0 });
      // Blind increments: they never conflict with each other, so only the lease can stop one.
      const writers = Array.from({ length: 20 }, async () => {
        await jitter();
        return store.commit([op(id, null, null, { increment: { pointer: '/n', by: 1 }, ...lock(null) })]);
      });
      const holder = (async () => {
        await jitter();
        const lease = await acquire(store, id, 'holder');
        // What the holder sees right after being granted the lease is what it will find later.
        return { lease, seen: await store.get(C, id) };
      })();
      const [{ lease, seen }, ...results] = await Promise.all([holder, ...writers]);
      const ok = results.filter((r) => r.ok).length;
      for (const r of results) {
        if (!r.ok)
          expect(r).toStrictEqual({
            ok: false,
            index: 0,
            reason: 'locked',
            owner: 'holder',
            expiresAt: lease.expiresAt,
          });
      }
      const final = await store.get(C, id);
      expect(final).toStrictEqual(seen);
      expect(final?.doc).toStrictEqual({ n: ok });
      expect((await allChanges(store, C)).filter((c) => c.id === id)).toHaveLength(1 + ok);
      committed += ok;
      refused += results.length - ok;
    }
    // Both outcomes happened, or the writers did not really race the acquisition.
    expect(committed).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
}
