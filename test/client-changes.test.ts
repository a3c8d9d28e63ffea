import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isProblem, type Change } from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { startProxy, type Proxy } from './client-proxy.js';

/**
 * `changes()`: the change feed as an async iterator over Server-Sent Events, resumed from the last
 * event id when the connection drops (here: the proxy cuts every connection).
 */
let server: TestServer;
let proxy: Proxy;
beforeAll(async () => {
  server = await startTestServer('collections:\n  notes: {}\n  other: {}\n');
  proxy = await startProxy(server.url);
});
afterAll(async () => {
  await proxy.close();
  await server.close();
});

interface Note {
  text: string;
}

/** A door reconnections wait at instead of the server's one second; once opened it stays open. */
function door() {
  let opened = false;
  const waiting: (() => void)[] = [];
  return {
    wait: () => (opened ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    open: () => {
      opened = true;
      waiting.splice(0).forEach((resolve) => resolve());
    },
  };
}

/** Resolves once the request the proxy saw at `index` is being answered. */
async function answered(index: number): Promise<void> {
  while (proxy.seen[index]?.answered !== true) await new Promise((r) => setTimeout(r, 5));
}

/** Reconnections wait for `gate` instead of the server's one second. */
function feedClient(gate: () => Promise<void> = async () => {}) {
  return createClient<{ notes: Note; other: { x: number } }>({
    baseUrl: proxy.url,
    timers: { sleep: () => gate() },
  });
}

describe('changes', () => {
  it('lists every write in commit order, then follows new ones', async () => {
    const writer = createClient<{ notes: Note; other: { x: number } }>({ baseUrl: server.url });
    await writer.create('notes', { id: 'n1', text: 'one' });
    await writer.create('other', { id: 'o1', x: 1 });
    await writer.patch('notes', 'n1', { text: 'two' });
    const feed = feedClient().changes('notes', { since: 0 });
    const first = await feed.next();
    const second = await feed.next();
    expect([first.value, second.value].map((c) => c && [c.op, c.id, c.version, c.doc?.text])).toEqual([
      ['create', 'n1', 1, 'one'],
      ['update', 'n1', 2, 'two'],
    ]);
    const pending = feed.next();
    await writer.delete('notes', 'n1');
    const third = (await pending).value as Change<Note, 'notes'>;
    expect(third).toMatchObject({ op: 'delete', id: 'n1', doc: null, collection: 'notes' });
    await feed.return();
  });

  it('resumes from the last event id after the connection drops, without gaps or repeats', async () => {
    const writer = createClient({ baseUrl: server.url });
    const gate = door();
    const seen: number[] = [];
    const feed = feedClient(gate.wait).changes({ since: 'now' });
    const take = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const next = await feed.next();
        seen.push((next.value as Change<unknown>).seq);
      }
    };
    // The stream has started once its answer comes back; only then are writes "from now on".
    const opened = proxy.seen.length;
    const waiting = take(2);
    await answered(opened);
    await writer.create('notes', { id: 'r1', text: 'a' });
    await writer.create('other', { id: 'r2', x: 2 });
    await waiting;
    // Cut the connection; write while the client is away; let it reconnect.
    const before = proxy.seen.length;
    proxy.cutConnections();
    await writer.create('notes', { id: 'r3', text: 'b' });
    await writer.create('notes', { id: 'r4', text: 'c' });
    await new Promise((r) => setTimeout(r, 20));
    gate.open();
    await take(2);
    await feed.return();
    expect(seen).toEqual([seen[0]!, seen[0]! + 1, seen[0]! + 2, seen[0]! + 3]);
    const reconnect = proxy.seen[before]!;
    expect(reconnect.headers['last-event-id']).toBe(String(seen[1]));
  });

  it('keeps the position a since=now stream started at when it drops before any event', async () => {
    const writer = createClient({ baseUrl: server.url });
    const gate = door();
    const feed = feedClient(gate.wait).changes('notes', { since: 'now' });
    const opened = proxy.seen.length;
    const next = feed.next();
    await answered(opened);
    proxy.cutConnections();
    await writer.create('notes', { id: 'gap', text: 'written while away' });
    await new Promise((r) => setTimeout(r, 20));
    gate.open();
    expect(((await next).value as Change<Note>).id).toBe('gap');
    await feed.return();
  });

  it('throws the problem of an answer that is not a stream', async () => {
    const feed = feedClient().changes('nothing' as 'notes');
    const error = await feed.next().catch((e: unknown) => e);
    expect(isProblem(error, 'not-found')).toBe(true);
  });
});
