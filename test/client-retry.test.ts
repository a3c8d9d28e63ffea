import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClient, isProblem, type ClientOptions } from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { startProxy, type Proxy } from './client-proxy.js';

/**
 * Retries (SPEC 4) and lost acknowledgements, through a real proxy in front of the real server:
 * transient answers it makes up, and answers it drops after the server committed. Waits are
 * recorded instead of slept, so no test waits for a Retry-After.
 */
let server: TestServer;
let proxy: Proxy;
beforeAll(async () => {
  server = await startTestServer(`
actorHeader: Truce-Actor
collections:
  notes: {}
  products:
    schema: { type: object, properties: { stock: { type: integer, minimum: 0 } } }
`);
  proxy = await startProxy(server.url);
});
afterAll(async () => {
  await proxy.close();
  await server.close();
});
beforeEach(() => {
  proxy.seen.length = 0;
  proxy.rule = () => ({ kind: 'forward' });
});

const busy = (headers: Record<string, string> = {}) =>
  ({
    kind: 'answer',
    status: 503,
    headers,
    body: { code: 'busy', status: 503, title: 'Busy', detail: 'busy', retryable: true },
  }) as const;

/** A client through the proxy whose sleeps are recorded and return at once; jitter draws 0.999. */
function client(options: Partial<ClientOptions> = {}) {
  const sleeps: number[] = [];
  const api = createClient({
    baseUrl: proxy.url,
    headers: { 'truce-actor': 'tester' },
    timers: {
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.999,
    },
    ...options,
  });
  return Object.assign(api, { sleeps });
}

const writes = () => proxy.seen.filter((r) => r.method !== 'GET');

describe('transient failures', () => {
  it('honours Retry-After in seconds and as an HTTP date, with one Idempotency-Key', async () => {
    const now = Date.now();
    const date = new Date(now).toUTCString();
    const later = new Date(now + 7000).toUTCString();
    proxy.rule = (_r, i) =>
      i === 0
        ? busy({ 'retry-after': '2' })
        : i === 1
          ? busy({ 'retry-after': later, date })
          : { kind: 'forward' };
    const api = client();
    const created = await api.create('notes', { id: 'a', text: 'hello' });
    expect(created.data.text).toBe('hello');
    expect(api.sleeps).toEqual([2000, 7000]);
    const keys = proxy.seen.map((r) => r.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
  });

  it('backs off with full jitter from 100 ms, or 500 ms for 429 and 503, and stops after 3 attempts', async () => {
    proxy.rule = () => ({ kind: 'answer', status: 502, body: 'bad gateway' });
    const api = client();
    const error = await api.get('notes', 'a').catch((e: unknown) => e);
    expect(isProblem(error) && error.status).toBe(502);
    expect(isProblem(error) && error.code).toBe('http-502');
    expect(proxy.seen).toHaveLength(3);
    // random() = 0.999 draws the top of each window: 100 ms, then 200 ms.
    expect(api.sleeps).toEqual([99, 199]);

    proxy.seen.length = 0;
    proxy.rule = (_r, i) => (i < 2 ? busy() : { kind: 'forward' });
    const slow = client();
    await slow.get('notes', 'a');
    expect(slow.sleeps).toEqual([499, 999]);
  });

  it('never re-sends a 409 or a 412, nor a Retry-After beyond the cap, nor past the deadline', async () => {
    const api = client();
    await api.create('notes', { id: 'b', text: 'one' });
    await client().patch('notes', 'b', { text: 'two' }, { ifMatch: false });
    proxy.seen.length = 0;
    const stale = await api.patch('notes', 'b', { text: 'three' }).catch((e: unknown) => e);
    expect(isProblem(stale, 'stale-write')).toBe(true);
    expect(proxy.seen).toHaveLength(1);

    proxy.seen.length = 0;
    proxy.rule = () => busy({ 'retry-after': '60' });
    expect(isProblem(await api.get('notes', 'b').catch((e: unknown) => e), 'busy')).toBe(true);
    expect(proxy.seen).toHaveLength(1);

    proxy.seen.length = 0;
    proxy.rule = () => busy({ 'retry-after': '1' });
    const hurried = await api.get('notes', 'b', { timeout: 500 }).catch((e: unknown) => e);
    expect(isProblem(hurried, 'busy')).toBe(true);
    expect(proxy.seen).toHaveLength(1);
  });

  it('aborts the whole operation, its waits included, with one signal', async () => {
    proxy.rule = () => busy({ 'retry-after': '1' });
    const api = client({ timers: {} }); // real sleeps
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user left')), 50);
    const started = Date.now();
    const error = await api.get('notes', 'b', { signal: controller.signal }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('user left');
    expect(Date.now() - started).toBeLessThan(900);
    expect(proxy.seen).toHaveLength(1);
  });

  it('retries a write without a key only when told to send none', async () => {
    proxy.rule = (_r, i) => (i === 0 ? { kind: 'drop-response' } : { kind: 'forward' });
    const api = client({ idempotency: false });
    const error = await api.create('notes', { text: 'no key' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError); // fetch's network error, not retried
    expect(writes()).toHaveLength(1);
  });
});

describe('lost acknowledgements', () => {
  it('gets the stored answer when a create is retried with its key', async () => {
    proxy.rule = (r, i) => (i === 0 ? { kind: 'drop-response' } : { kind: 'forward' });
    const api = client();
    const created = await api.create('notes', { text: 'exactly once' });
    const all = await client().list('notes', { filter: { text: 'exactly once' } });
    expect(all.items.map((n) => n.id)).toEqual([created.data.id]);
    expect(writes()).toHaveLength(2);
  });

  it('recognises its own write after a lost answer on a server without idempotency keys', async () => {
    const api = client();
    await api.create('notes', { id: 'c', text: 'v1', n: 1 });
    const strip = { kind: 'forward-without', headers: ['idempotency-key'] } as const;
    const dropOnce = (method: string) => (r: { method: string }, i: number) =>
      r.method === method && writes().length === 1 && i >= 0 ? ({ kind: 'drop-response' } as const) : strip;

    proxy.seen.length = 0;
    proxy.rule = dropOnce('PUT');
    const replaced = await api.replace('notes', 'c', { text: 'v2', n: 2 });
    expect(replaced.data).toMatchObject({ text: 'v2', _version: 2 });

    proxy.seen.length = 0;
    proxy.rule = dropOnce('PATCH');
    expect((await api.patch('notes', 'c', { n: 3 })).data).toMatchObject({ n: 3, _version: 3 });

    proxy.seen.length = 0;
    proxy.rule = dropOnce('PUT');
    const updated = await api.update('notes', 'c', (doc) => void (doc['n'] = 4));
    expect(updated.data).toMatchObject({ n: 4, _version: 4 });

    proxy.seen.length = 0;
    proxy.rule = dropOnce('DELETE');
    await api.delete('notes', 'c');
    const gone = await client()
      .get('notes', 'c')
      .catch((e: unknown) => e);
    expect(isProblem(gone, 'not-found')).toBe(true);

    // A create with a chosen id is recognised too.
    proxy.seen.length = 0;
    proxy.rule = dropOnce('POST');
    expect((await api.create('notes', { id: 'd', text: 'mine' })).data).toMatchObject({
      id: 'd',
      _version: 1,
    });
    // Every write above reached the server twice and applied once.
    const versions = await fetch(`${server.url}/notes/d/_versions`).then(
      (r) => r.json() as Promise<{ items: unknown[] }>,
    );
    expect(versions.items).toHaveLength(1);
  });

  it('does not mistake a concurrent change for its own lost write', async () => {
    const api = client();
    await api.create('notes', { id: 'e', text: 'v1' });
    proxy.rule = (r) => {
      if (r.method === 'PUT' && writes().length === 2) {
        // While the client's answer is lost, someone else writes something different.
        return { kind: 'drop-response' };
      }
      return { kind: 'forward-without', headers: ['idempotency-key'] };
    };
    proxy.seen.length = 0;
    const other = client();
    await other.patch('notes', 'e', { text: 'theirs' }, { ifMatch: false });
    // The client's If-Match is stale from the start: its refusal is a real one.
    const error = await api.replace('notes', 'e', { text: 'mine' }).catch((e: unknown) => e);
    expect(isProblem(error, 'stale-write')).toBe(true);
  });
});
