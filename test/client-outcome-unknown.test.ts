import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClient, type ClientOptions } from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { startProxy, type Action, type Proxy } from './client-proxy.js';

/**
 * The SDK and 503 `outcome-unknown` (the server lost its database connection before the commit was
 * confirmed), through a real proxy in front of the real server that stands in for that answer: after
 * letting the server commit (the write was applied), or without forwarding (it was not). A keyed
 * write is sent again as it is and the server replays it; a write without a key is not repeated
 * before a read shows its effect missing. Waits are recorded, not slept.
 */
let server: TestServer;
let proxy: Proxy;
beforeAll(async () => {
  server = await startTestServer('collections: { notes: {} }');
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

const UNKNOWN = {
  status: 503,
  headers: { 'retry-after': '2' },
  body: {
    type: '/_problems/outcome-unknown',
    code: 'outcome-unknown',
    status: 503,
    title: 'Whether the write was applied is unknown',
    detail: 'Repeat it with the same Idempotency-Key or If-Match.',
    retryable: true,
    resolution: 'wait-and-retry',
  },
};
/** The write reached the server and was applied; its answer is replaced by outcome-unknown. */
const appliedThenUnknown: Action = { kind: 'replace-response', ...UNKNOWN };
/** The write never reached the server. */
const lostBeforeUnknown: Action = { kind: 'answer', ...UNKNOWN };

/** A client through the proxy whose sleeps are recorded and return at once. */
function client(options: Partial<ClientOptions> = {}) {
  const sleeps: number[] = [];
  const api = createClient({
    baseUrl: proxy.url,
    timers: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.999 },
    ...options,
  });
  return Object.assign(api, { sleeps });
}

/** The requests the proxy saw since the first write, as `METHOD path`. */
const trail = () => proxy.seen.map((r) => `${r.method} ${r.path}`);

/** Answers the first `PUT`/`PATCH`/`DELETE`/`POST` with `action`, forwards everything else. */
function firstWrite(action: Action) {
  let done = false;
  proxy.seen.length = 0;
  proxy.rule = (r) => {
    if (done || r.method === 'GET') return { kind: 'forward' };
    done = true;
    return action;
  };
}

describe('outcome-unknown', () => {
  it('a keyed write is sent again with its key, and the server replays the applied one', async () => {
    const api = client();
    const first = await api.create('notes', { id: 'k', text: 'one' });
    firstWrite(appliedThenUnknown);
    const written = await api.replace('notes', 'k', { text: 'two' });
    expect(written.data).toMatchObject({ text: 'two', _version: 2 });
    expect(first.etag).not.toBe(written.etag);
    const keys = proxy.seen.map((r) => r.headers['idempotency-key']);
    expect(trail()).toStrictEqual(['PUT /notes/k', 'PUT /notes/k']);
    expect(new Set(keys).size).toBe(1);
    expect(api.sleeps).toStrictEqual([2000]);
  });

  it('a write without a key that was applied is found by a read and not sent again', async () => {
    const api = client({ idempotency: false });
    await api.create('notes', { id: 'a', text: 'one' });
    firstWrite(appliedThenUnknown);
    const written = await api.patch('notes', 'a', { text: 'two' });
    expect(written.data).toMatchObject({ text: 'two', _version: 2 });
    expect(trail()).toStrictEqual(['PATCH /notes/a', 'GET /notes/a']);
    expect((await server.store.get('notes', 'a'))?.version).toBe(2);
  });

  it('a write without a key that was not applied is sent again once a read shows it missing', async () => {
    const api = client({ idempotency: false });
    await api.create('notes', { id: 'b', text: 'one' });
    firstWrite(lostBeforeUnknown);
    const written = await api.replace('notes', 'b', { text: 'two' });
    expect(written.data).toMatchObject({ text: 'two', _version: 2 });
    expect(trail()).toStrictEqual(['PUT /notes/b', 'GET /notes/b', 'PUT /notes/b']);
    expect(api.sleeps).toStrictEqual([2000]);
    // The repeat still carries the If-Match of the first attempt: it cannot overwrite a change made meanwhile.
    expect(proxy.seen[2]?.headers['if-match']).toBe(proxy.seen[0]?.headers['if-match']);
  });

  it('a create and a delete without a key are recognised after outcome-unknown too', async () => {
    const api = client({ idempotency: false });
    firstWrite(appliedThenUnknown);
    const created = await api.create('notes', { id: 'c', text: 'new' });
    expect(created.data).toMatchObject({ text: 'new', _version: 1 });
    expect(trail()).toStrictEqual(['POST /notes', 'GET /notes/c']);
    firstWrite(appliedThenUnknown);
    await api.delete('notes', 'c');
    expect(trail()).toStrictEqual(['DELETE /notes/c', 'GET /notes/c']);
    expect((await server.store.get('notes', 'c'))?.deleted).toBe(true);
  });

  it('update() finds its own write after outcome-unknown instead of running another round', async () => {
    const api = client({ idempotency: false });
    await api.create('notes', { id: 'u', text: 'one', n: 1 });
    firstWrite(appliedThenUnknown);
    const updated = await api.update('notes', 'u', (doc) => ({ ...doc, n: Number(doc['n']) + 1 }));
    expect(updated.data).toMatchObject({ n: 2, _version: 2 });
    expect(proxy.seen.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });
});
