import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LeaseResult, WriteOp } from '../types.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'truce-leases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000;

const put = (id: string, expectVersion: number, lock?: WriteOp['lock']): WriteOp => ({
  collection: 'things',
  id,
  expectVersion,
  doc: { n: expectVersion + 1 },
  actor: null,
  keepHistory: 10,
  lock,
});

/** Two connections to one file stand for two server processes sharing the database. */
describe('sqlite leases across connections', () => {
  it('of acquirers on two connections exactly one wins, and both connections honour the lease', async () => {
    const path = join(dir, 'shared.db');
    const a = openSqliteStore({ path });
    const b = openSqliteStore({ path });
    try {
      expect((await a.commit([put('doc', 0)])).ok).toBe(true);
      const results: LeaseResult[] = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? a : b).lease('things', 'doc', {
            action: 'acquire',
            token: null,
            owner: `w${i}`,
            ttlMs: 1000,
            now: T0,
          }),
        ),
      );
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      const lease = winners[0]!.ok ? winners[0]!.lease : undefined;
      // A write through the other connection is refused without the token, accepted with it.
      for (const store of [a, b]) {
        expect(await store.commit([put('doc', 1, { token: null, now: T0 + 1 })])).toMatchObject({
          ok: false,
          reason: 'locked',
          owner: lease?.owner,
        });
      }
      expect((await b.commit([put('doc', 1, { token: lease!.token, now: T0 + 1 })])).ok).toBe(true);
      // A delete through one connection ends the lease for the other.
      expect(
        (await a.commit([{ ...put('doc', 2, { token: lease!.token, now: T0 + 2 }), doc: null }])).ok,
      ).toBe(true);
      expect((await b.commit([put('doc', 3, { token: null, now: T0 + 3 })])).ok).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps leases and fencing numbers across a reopen', async () => {
    const path = join(dir, 'reopen.db');
    const first = openSqliteStore({ path });
    await first.commit([put('doc', 0)]);
    const taken = await first.lease('things', 'doc', {
      action: 'acquire',
      token: null,
      owner: 'alice',
      ttlMs: 1000,
      now: T0,
    });
    await first.close();
    const second = openSqliteStore({ path });
    try {
      expect(
        await second.lease('things', 'doc', {
          action: 'acquire',
          token: null,
          owner: 'bob',
          ttlMs: 1000,
          now: T0,
        }),
      ).toStrictEqual({ ok: false, reason: 'locked', owner: 'alice', expiresAt: T0 + 1000 });
      const next = await second.lease('things', 'doc', {
        action: 'acquire',
        token: null,
        owner: 'bob',
        ttlMs: 1000,
        now: T0 + 1000,
      });
      expect(taken.ok && next.ok && [taken.lease.fencing, next.lease.fencing]).toStrictEqual([1, 2]);
    } finally {
      await second.close();
    }
  });
});
