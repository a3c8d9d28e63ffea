import { afterEach, describe, expect, it, vi } from 'vitest';
import { SUBSCRIPTION_ACTIONS, type GatewayStore, type SubscriptionStatus } from './types.js';

/**
 * One database and as many store instances on it as a test opens (two pools, two SQLite
 * connections): what the conformance suite needs to race two processes.
 */
export interface StoreFixture {
  open(): Promise<GatewayStore>;
  /** Removes the database (the suite closes the stores first). */
  dispose(): Promise<void>;
}

/**
 * The behaviour every {@link GatewayStore} adapter must have, written once and run against each
 * (STYLE: one conformance suite, every adapter): unique consumer names, keys by hash, the
 * subscription transitions of SPEC 5.6, audit rows written with their change, key lookups that see
 * another instance's changes at once, and races between two instances with exactly one winner.
 */
export function gatewayStoreConformance(name: string, fixture: () => Promise<StoreFixture>): void {
  describe(`gateway store conformance: ${name}`, () => {
    const opened: GatewayStore[] = [];
    let current: StoreFixture | undefined;
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await current?.dispose();
      current = undefined;
    });
    const stores = async (n = 1): Promise<GatewayStore[]> => {
      current ??= await fixture();
      const made: GatewayStore[] = [];
      for (let i = 0; i < n; i++) made.push(await current.open());
      opened.push(...made);
      return made;
    };
    const one = async () => (await stores(1))[0]!;
    const NOW = 1_750_000_000_000;

    it('creates consumers with unique names, finds them by id or name, pages them', async () => {
      const store = await one();
      const alice = await store.createConsumer('alice', NOW);
      expect(alice).toMatchObject({ name: 'alice', createdAt: NOW });
      if (alice === 'taken') throw new Error('unreachable');
      expect(await store.createConsumer('alice', NOW + 1)).toBe('taken');
      expect(await store.consumer('alice')).toEqual(alice);
      expect(await store.consumer(alice.id)).toEqual(alice);
      expect(await store.consumer('nobody')).toBeUndefined();
      for (const n of ['bob', 'carol', 'dave']) await store.createConsumer(n, NOW + 2);
      const first = await store.consumers(3, undefined);
      expect(first.items).toHaveLength(3);
      expect(first.next).toEqual(expect.any(String));
      const second = await store.consumers(3, first.next!);
      expect(second).toMatchObject({ next: null });
      expect([...first.items, ...second.items].map((c) => c.name).sort()).toEqual([
        'alice',
        'bob',
        'carol',
        'dave',
      ]);
      expect(await store.deleteConsumer(alice.id, NOW + 3)).toBe(true);
      expect(await store.deleteConsumer(alice.id, NOW + 3)).toBe(false);
      expect(await store.createConsumer('alice', NOW + 4)).toMatchObject({ name: 'alice' });
    });

    it('stores keys by hash: lookup, list, delete, and nothing for an unknown consumer', async () => {
      const store = await one();
      const c = (await store.createConsumer('erin', NOW)) as { id: string };
      const key = await store.addKey(c.id, 'hash-1', 'truce_abc', NOW);
      expect(key).toMatchObject({ consumerId: c.id, prefix: 'truce_abc', lastUsedAt: null });
      await store.addKey(c.id, 'hash-2', 'truce_def', NOW);
      expect(await store.addKey('con_missing', 'hash-3', 'truce_x', NOW)).toBeUndefined();
      const page = await store.keys(c.id, 1, undefined);
      expect(page.items).toHaveLength(1);
      expect((await store.keys(c.id, 1, page.next!)).items).toHaveLength(1);
      expect(await store.lookupKey('hash-1', 'shop', NOW)).toMatchObject({
        consumer: { id: c.id, name: 'erin' },
        keyId: key!.id,
        subscription: null,
      });
      expect(await store.lookupKey('hash-unknown', 'shop', NOW)).toBeUndefined();
      expect(await store.deleteKey(c.id, key!.id, NOW)).toBe(true);
      expect(await store.deleteKey(c.id, key!.id, NOW)).toBe(false);
      expect(await store.lookupKey('hash-1', 'shop', NOW)).toBeUndefined();
      await store.deleteConsumer(c.id, NOW);
      expect(await store.lookupKey('hash-2', 'shop', NOW)).toBeUndefined();
    });

    it('records when a key was last used, at most once a minute, off the lookup', async () => {
      const store = await one();
      const c = (await store.createConsumer('lou', NOW)) as { id: string };
      await store.addKey(c.id, 'hash-l', 'truce_l', NOW);
      await store.lookupKey('hash-l', 'shop', NOW + 1_000);
      const lastUsed = async () => (await store.keys(c.id, 10, undefined)).items[0]!.lastUsedAt;
      await vi.waitFor(async () => expect(await lastUsed()).toBe(NOW + 1_000));
      await store.lookupKey('hash-l', 'shop', NOW + 30_000);
      await store.lookupKey('hash-l', 'shop', NOW + 120_000);
      await vi.waitFor(async () => expect(await lastUsed()).toBe(NOW + 120_000));
    });

    it('moves subscriptions only along the transitions of SPEC 5.6', async () => {
      const store = await one();
      const c = (await store.createConsumer('frank', NOW)) as { id: string };
      const statuses: SubscriptionStatus[] = ['pending', 'approved', 'rejected', 'revoked'];
      for (const [i, from] of statuses.entries()) {
        for (const action of Object.keys(SUBSCRIPTION_ACTIONS) as (keyof typeof SUBSCRIPTION_ACTIONS)[]) {
          const route = `r-${i}-${action}`;
          const sub = await store.subscribe(c.id, route, from, NOW);
          if (sub === 'exists') throw new Error('unreachable');
          expect(sub).toMatchObject({ consumer: 'frank', route, status: from });
          const rule = SUBSCRIPTION_ACTIONS[action];
          const result = await store.transitionSubscription(sub.id, action, NOW + 1);
          if ((rule.from as readonly string[]).includes(from)) {
            expect(result).toMatchObject({ ok: true, subscription: { status: rule.to, updatedAt: NOW + 1 } });
          } else {
            expect(result).toEqual({ ok: false, reason: 'invalid-transition', current: from });
          }
        }
      }
      expect(await store.subscribe(c.id, 'r-0-approve', 'pending', NOW)).toBe('exists');
      expect(await store.transitionSubscription('sub_missing', 'approve', NOW)).toEqual({
        ok: false,
        reason: 'not-found',
      });
      const approved = await store.subscriptions({ status: 'approved', consumerId: c.id }, 100, undefined);
      expect(approved.items.map((s) => s.route).sort()).toEqual(
        ['r-0-approve', 'r-1-approve', 'r-1-reject', 'r-2-approve', 'r-3-approve'].sort(),
      );
      const revoked = await store.subscriptions({ route: 'r-1-revoke' }, 10, undefined);
      expect(revoked.items).toMatchObject([{ route: 'r-1-revoke', status: 'revoked' }]);
      expect(await store.subscription(revoked.items[0]!.id)).toEqual(revoked.items[0]);
    });

    it('audits every change in the same transaction, in order, and only changes', async () => {
      const store = await one();
      const c = (await store.createConsumer('gina', NOW)) as { id: string };
      await store.createConsumer('gina', NOW);
      const key = await store.addKey(c.id, 'hash-g', 'truce_g', NOW);
      const sub = (await store.subscribe(c.id, 'shop', 'pending', NOW)) as { id: string };
      await store.transitionSubscription(sub.id, 'approve', NOW);
      await store.transitionSubscription(sub.id, 'reject', NOW); // refused: not audited
      await store.deleteKey(c.id, key!.id, NOW);
      await store.deleteConsumer(c.id, NOW);
      const first = await store.audit(4, undefined);
      const rest = await store.audit(100, first.next!);
      const all = [...first.items, ...rest.items];
      expect(all.map((a) => a.action)).toEqual([
        'consumer.create',
        'key.create',
        'subscription.request',
        'subscription.approve',
        'key.delete',
        'consumer.delete',
      ]);
      expect(all[0]).toMatchObject({ time: NOW, target: c.id, detail: { name: 'gina' } });
      expect(all[3]).toMatchObject({
        target: sub.id,
        detail: { consumer: 'gina', route: 'shop', status: 'approved' },
      });
      expect(rest.next).toBeNull();
    });

    it('finds nothing for ids and names holding U+0000 (an admin URL may decode to one)', async () => {
      const store = await one();
      const c = (await store.createConsumer('nul', NOW)) as { id: string };
      expect(await store.consumer('nul\u0000')).toBeUndefined();
      expect(await store.subscription('sub_\u0000')).toBeUndefined();
      expect(await store.transitionSubscription('sub_\u0000', 'approve', NOW)).toEqual({
        ok: false,
        reason: 'not-found',
      });
      expect(await store.deleteKey(c.id, 'key_\u0000', NOW)).toBe(false);
      expect((await store.subscriptions({ route: 'r\u0000' }, 10, undefined)).items).toEqual([]);
    });

    it("sees another instance's revocation and deletion on the very next lookup", async () => {
      const [a, b] = await stores(2);
      const c = (await a!.createConsumer('hank', NOW)) as { id: string };
      await a!.addKey(c.id, 'hash-h', 'truce_h', NOW);
      const sub = (await a!.subscribe(c.id, 'shop', 'approved', NOW)) as { id: string };
      expect((await b!.lookupKey('hash-h', 'shop', NOW))?.subscription).toBe('approved');
      await a!.transitionSubscription(sub.id, 'revoke', NOW);
      expect((await b!.lookupKey('hash-h', 'shop', NOW))?.subscription).toBe('revoked');
      await a!.deleteConsumer(c.id, NOW);
      expect(await b!.lookupKey('hash-h', 'shop', NOW)).toBeUndefined();
    });

    it('lets exactly one of two instances win a race on one transition or one name', async () => {
      const [a, b] = await stores(2);
      const c = (await a!.createConsumer('ivy', NOW)) as { id: string };
      for (let round = 0; round < 10; round++) {
        const sub = (await a!.subscribe(c.id, `race-${round}`, 'approved', NOW)) as { id: string };
        const results = await Promise.all([
          a!.transitionSubscription(sub.id, 'revoke', NOW + 1),
          b!.transitionSubscription(sub.id, 'revoke', NOW + 1),
        ]);
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.find((r) => !r.ok)).toEqual({
          ok: false,
          reason: 'invalid-transition',
          current: 'revoked',
        });
        const named = await Promise.all([
          a!.createConsumer(`twin-${round}`, NOW),
          b!.createConsumer(`twin-${round}`, NOW),
        ]);
        expect(named.filter((n) => n === 'taken')).toHaveLength(1);
      }
      const audit = await a!.audit(1000, undefined);
      expect(audit.items.filter((x) => x.action === 'subscription.revoke')).toHaveLength(10);
      expect(audit.items.filter((x) => x.action === 'consumer.create')).toHaveLength(11);
    });
  });
}
