import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load.js';
import { createServer } from '../server.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';

let app: FastifyInstance;
let url: string;
const store = openSqliteStore({ path: ':memory:' });
const sockets: Socket[] = [];
const aborts: AbortController[] = [];

beforeAll(async () => {
  const config = parseConfigText('collections: { notes: {} }');
  // Two streams in all, so the server-wide limit is reached without opening a thousand.
  const feed = { heartbeatMs: 200, pollMs: 50, maxStreams: 2 };
  app = await createServer(config, { store, logger: false, feed });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const a of aborts) a.abort();
  await app.close();
  await store.close();
});

/** Opens an event stream with fetch (a connection of its own); abort it to close it. */
async function stream(): Promise<{ res: Response; close: () => void }> {
  const stop = new AbortController();
  aborts.push(stop);
  const res = await fetch(`${url}/_changes?since=now`, {
    headers: { accept: 'text/event-stream', connection: 'close' },
    signal: stop.signal,
  });
  return { res, close: () => stop.abort() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until a new stream is admitted again (the server noticed a closed one), at most 5 s. */
async function admittedWithin(ms: number): Promise<{ res: Response; close: () => void }> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await stream();
    if (s.res.status === 200 || Date.now() > end) return s;
    s.close();
    await sleep(50);
  }
}

describe('change-feed stream limits', () => {
  it('refuses a stream past the server-wide limit with 503 busy and Retry-After, and admits one again once a stream ends', async () => {
    const first = await stream();
    const second = await stream();
    expect([first.res.status, second.res.status]).toEqual([200, 200]);
    const third = await stream();
    expect(third.res.status).toBe(503);
    expect(third.res.headers.get('retry-after')).toMatch(/^[0-9]+$/);
    const problem = (await third.res.json()) as { code: string; detail: string };
    expect(problem.code).toBe('busy');
    expect(problem.detail).toMatch(/streams open/);
    first.close();
    const again = await admittedWithin(5000);
    expect(again.res.status).toBe(200);
    second.close();
    again.close();
  });

  it('counts one stream per connection: streams pipelined behind the first are refused, not started', async () => {
    await sleep(200); // the previous test's streams end
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.write(
      'GET /_changes?since=now HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n'.repeat(50),
    );
    const end = Date.now() + 5000;
    while (!received.includes('feed from') && Date.now() < end) await sleep(20);
    expect(received).toMatch(/^HTTP\/1.1 200/);
    await sleep(300);
    // Had the pipelined requests started streams, the server would be at its limit of two.
    const other = await stream();
    expect(other.res.status).toBe(200);
    // The socket's own stream ends with it, so another connection gets the second place again.
    socket.destroy();
    const next = await admittedWithin(5000);
    expect(next.res.status).toBe(200);
    other.close();
    next.close();
  });
});
