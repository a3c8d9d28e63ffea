import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { parseConfigText } from '../config/load.js';
import { createServer } from '../server.js';
import type { Store } from '../store/types.js';
import { json, openTestStore } from '../testing/harness.js';

const CONFIG = `
idempotency: { ttl: 3600 }
collections:
  payments:
    schema: { type: object, required: [amount], properties: { amount: { type: integer, minimum: 1 } } }
    unique: [ { fields: [reference] } ]
  wallets:
    schema: { type: object, properties: { balance: { type: integer, minimum: 0 } } }
`;

let now = Date.parse('2026-11-22T10:00:00Z');
let store: Store;
let app: FastifyInstance;
let url: string;
beforeAll(async () => {
  store = await openTestStore();
  app = await createServer(parseConfigText(CONFIG), { store, logger: false, clock: () => now });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app.close();
  await store.close();
});

const post = (path: string, body: unknown, headers: Record<string, string>) =>
  fetch(`${url}${path}`, json(body, headers, 'POST'));
const count = async (collection: string) =>
  ((await (await fetch(`${url}/${collection}?limit=1000`)).json()) as { items: unknown[] }).items.length;

describe('Idempotency-Key (SPEC 3.8)', () => {
  it('scenario 15: a create retried after a lost response is not duplicated', async () => {
    const before = await count('payments');
    const first = await post(
      '/payments',
      { amount: 5 },
      { 'idempotency-key': '"pay-1"', 'truce-actor': 'ann' },
    );
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.text();
    // The response was "lost"; the client retries with the same key and payload.
    const retry = await post(
      '/payments',
      { amount: 5 },
      { 'idempotency-key': '"pay-1"', 'truce-actor': 'ann' },
    );
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('location')).toBe(first.headers.get('location'));
    expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(await retry.text()).toBe(firstBody);
    expect(await count('payments')).toBe(before + 1);
  });

  it('truly concurrent duplicates create one resource; the others wait or replay', async () => {
    const before = await count('payments');
    const results = await Promise.all(
      Array.from({ length: 20 }, () => post('/payments', { amount: 7 }, { 'idempotency-key': 'dup-burst' })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const created = results.filter((r) => r.status === 201);
    expect(new Set(created.map((r) => r.headers.get('location'))).size).toBe(1);
    for (const r of results.filter((x) => x.status === 409)) {
      expect(r.headers.get('retry-after')).toMatch(/^[1-9]/);
      expect(((await r.json()) as { code: string }).code).toBe('idempotency-in-flight');
    }
    expect(await count('payments')).toBe(before + 1);
    const after = await post('/payments', { amount: 7 }, { 'idempotency-key': 'dup-burst' });
    expect(after.status).toBe(201);
    expect(after.headers.get('idempotent-replayed')).toBe('true');
  });

  it('another payload under the same key is 422; errors are replayed too', async () => {
    await post('/payments', { amount: 1 }, { 'idempotency-key': 'k-payload' });
    const other = await post('/payments', { amount: 2 }, { 'idempotency-key': 'k-payload' });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { code: string }).code).toBe('idempotency-key-reused');
    const invalid = await post('/payments', { amount: 0 }, { 'idempotency-key': 'k-invalid' });
    expect(invalid.status).toBe(422);
    const again = await post('/payments', { amount: 0 }, { 'idempotency-key': 'k-invalid' });
    expect(again.status).toBe(422);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toMatch(/problem\+json/);
    expect(((await again.json()) as { code: string }).code).toBe('validation-failed');
  });

  it('a refusal found at commit (unique key) is stored and replayed, with nothing written', async () => {
    await post('/payments', { amount: 3, reference: 'INV-1' }, {});
    const before = await count('payments');
    const taken = await post(
      '/payments',
      { amount: 3, reference: 'INV-1' },
      { 'idempotency-key': 'k-taken' },
    );
    expect(taken.status).toBe(409);
    const replay = await post(
      '/payments',
      { amount: 3, reference: 'INV-1' },
      { 'idempotency-key': 'k-taken' },
    );
    expect(replay.status).toBe(409);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await count('payments')).toBe(before);
  });

  it('keys are scoped by actor and by route', async () => {
    const before = await count('payments');
    await post('/payments', { amount: 4 }, { 'idempotency-key': 'shared', 'truce-actor': 'ann' });
    const bob = await post('/payments', { amount: 4 }, { 'idempotency-key': 'shared', 'truce-actor': 'bob' });
    expect(bob.headers.get('idempotent-replayed')).toBeNull();
    const other = await post(
      '/wallets',
      { balance: 4 },
      { 'idempotency-key': 'shared', 'truce-actor': 'ann' },
    );
    expect(other.status).toBe(201);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect(await count('payments')).toBe(before + 2);
  });

  it('an increment retried with its key applies once; PUT, PATCH and DELETE take keys too', async () => {
    await fetch(`${url}/wallets/w1`, json({ balance: 10 }));
    for (let i = 0; i < 3; i++) {
      const res = await post(
        '/wallets/w1/_increment',
        { pointer: '/balance', by: -4 },
        { 'idempotency-key': 'spend-1' },
      );
      expect(res.status).toBe(200);
    }
    expect(((await (await fetch(`${url}/wallets/w1`)).json()) as { balance: number }).balance).toBe(6);
    const patch = () =>
      fetch(`${url}/wallets/w1`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json', 'idempotency-key': 'p-1' },
        body: '{"note":"x"}',
      });
    expect((await patch()).status).toBe(200);
    const replayed = await patch();
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(((await (await fetch(`${url}/wallets/w1`)).json()) as { _version: number })._version).toBe(3);
    const del = () => fetch(`${url}/wallets/w1`, { method: 'DELETE', headers: { 'idempotency-key': 'd-1' } });
    expect((await del()).status).toBe(204);
    const delAgain = await del();
    expect(delAgain.status).toBe(204);
    expect(delAgain.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a batch with a key commits once', async () => {
    const batch = () =>
      post(
        '/_batch',
        { operations: [{ method: 'POST', path: '/payments', body: { amount: 9, reference: 'B-1' } }] },
        { 'idempotency-key': 'batch-1' },
      );
    const first = await batch();
    expect(first.status).toBe(200);
    const second = await batch();
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.json()).toEqual(await first.json());
  });

  it('keys expire after the configured time, and a claim left by a dead request can be taken over', async () => {
    const before = await count('payments');
    await post('/payments', { amount: 6 }, { 'idempotency-key': 'k-expire' });
    now += 3_600_001; // ttl: 3600 s
    const fresh = await post('/payments', { amount: 6 }, { 'idempotency-key': 'k-expire' });
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
    expect(await count('payments')).toBe(before + 2);
    // A request whose process died holds the key until its claim lapses.
    await store.claimIdempotencyKey({
      scope: '\u0000POST /payments',
      key: 'k-dead',
      fingerprint: 'x',
      now,
      leaseMs: 30_000,
      expiresAt: now + 3_600_000,
    });
    expect((await post('/payments', { amount: 8 }, { 'idempotency-key': 'k-dead' })).status).toBe(422); // other payload
    const claimed = await store.claimIdempotencyKey({
      scope: '\u0000POST /payments',
      key: 'k-dead2',
      fingerprint: 'y',
      now,
      leaseMs: 30_000,
      expiresAt: now + 3_600_000,
    });
    expect(claimed.state).toBe('claimed');
    const inFlight = await store.claimIdempotencyKey({
      scope: '\u0000POST /payments',
      key: 'k-dead2',
      fingerprint: 'y',
      now: now + 1000,
      leaseMs: 30_000,
      expiresAt: now + 3_600_000,
    });
    expect(inFlight.state).toBe('in-flight');
    const takeover = await store.claimIdempotencyKey({
      scope: '\u0000POST /payments',
      key: 'k-dead2',
      fingerprint: 'y',
      now: now + 31_000,
      leaseMs: 30_000,
      expiresAt: now + 3_600_000,
    });
    expect(takeover.state).toBe('claimed');
  });

  it('expired keys are purged', async () => {
    await store.purgeIdempotencyKeys(now, 1000); // keys of the earlier tests expired when the clock moved
    await post('/payments', { amount: 2 }, { 'idempotency-key': 'k-purge' });
    expect(await store.purgeIdempotencyKeys(now, 1000)).toBe(0);
    expect(await store.purgeIdempotencyKeys(now + 3_600_001, 1000)).toBeGreaterThan(0);
  });

  it('refuses malformed keys', async () => {
    for (const bad of ['', '"unterminated', 'has space', 'x'.repeat(256)]) {
      const res = await post('/payments', { amount: 1 }, { 'idempotency-key': bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
  });
});
