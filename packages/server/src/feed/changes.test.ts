import { connect } from 'node:net';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load.js';
import { createServer } from '../server.js';
import { pruneFeed } from './changes.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { json } from '../testing/harness.js';
import type { FastifyInstance } from 'fastify';

let app: FastifyInstance;
let url: string;
/** The raw response of every event stream, to look at what the server buffers. */
const streams: ServerResponse[] = [];
const store = openSqliteStore({ path: ':memory:' });

beforeAll(async () => {
  const config = parseConfigText('collections: { notes: {}, tasks: {} }');
  app = await createServer(config, { store, logger: false, feed: { heartbeatMs: 200, pollMs: 50 } });
  app.addHook('onRequest', async (request, reply) => {
    if (/event-stream/.test(request.headers.accept ?? '')) streams.push(reply.raw);
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app.close();
  await store.close();
});

interface Event {
  id: string | undefined;
  event: string | undefined;
  data: {
    seq: number;
    collection: string;
    id: string;
    op: string;
    version: number;
    doc: Record<string, unknown> | null;
  };
}

/** Reads an SSE response, handing each event (and each comment) to the callbacks until stopped. */
async function readEvents(
  res: Response,
  onEvent: (e: Event) => boolean | void,
  onComment: (text: string) => void = () => {},
): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) onComment(line.slice(1).trim());
        else {
          const colon = line.indexOf(':');
          fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
        }
      }
      if (fields['data'] !== undefined) {
        const stop = onEvent({
          id: fields['id'],
          event: fields['event'],
          data: JSON.parse(fields['data']) as Event['data'],
        });
        if (stop) {
          await reader.cancel();
          return;
        }
      }
    }
  }
}

describe('change feed as JSON', () => {
  it('lists every write once in commit order, per collection or globally, from a sequence or now', async () => {
    const start = await store.lastSeq();
    await fetch(`${url}/notes/a`, json({ v: 1 }));
    await fetch(`${url}/tasks/b`, json({ v: 1 }));
    await fetch(`${url}/notes/a`, json({ v: 2 }));
    await fetch(`${url}/notes/a`, { method: 'DELETE' });
    const all = (await (await fetch(`${url}/_changes?since=${start}`)).json()) as {
      results: Event['data'][];
      last: number;
    };
    expect(all.results.map((r) => [r.collection, r.id, r.op, r.version])).toEqual([
      ['notes', 'a', 'create', 1],
      ['tasks', 'b', 'create', 1],
      ['notes', 'a', 'update', 2],
      ['notes', 'a', 'delete', 3],
    ]);
    expect(all.last).toBe(start + 4);
    expect(all.results[2]!.doc).toEqual({ v: 2 });
    const notes = (await (await fetch(`${url}/notes/_changes?since=${start}&limit=2`)).json()) as {
      results: Event['data'][];
      last: number;
    };
    expect(notes.results.map((r) => r.op)).toEqual(['create', 'update']);
    const rest = (await (await fetch(`${url}/notes/_changes?since=${notes.last}`)).json()) as {
      results: Event['data'][];
    };
    expect(rest.results.map((r) => r.op)).toEqual(['delete']);
    const now = (await (await fetch(`${url}/_changes?since=now`)).json()) as {
      results: unknown[];
      last: number;
    };
    expect(now).toEqual({ results: [], last: start + 4 });
  });

  it('refuses a bad since, limit or Last-Event-ID', async () => {
    expect((await fetch(`${url}/_changes?since=yesterday`)).status).toBe(400);
    expect((await fetch(`${url}/_changes?limit=0`)).status).toBe(400);
    expect(
      (await fetch(`${url}/_changes`, { headers: { accept: 'text/event-stream', 'last-event-id': '-1' } }))
        .status,
    ).toBe(400);
    // A repeated parameter counts with its last value, as everywhere else.
    expect((await fetch(`${url}/_changes?limit=5&limit=0`)).status).toBe(400);
    // HEAD answers with the JSON answer's headers instead of opening a stream.
    const head = await fetch(`${url}/_changes`, { method: 'HEAD', headers: { accept: 'text/event-stream' } });
    expect(head.headers.get('content-type')).toMatch(/application\/json/);
    expect((await fetch(`${url}/nothing/_changes`)).status).toBe(404);
  });

  it('parses since and Last-Event-ID exactly, and refuses positions past the newest change plus one', async () => {
    await fetch(`${url}/notes/since-check`, json({ at: 1 }));
    const newest = await store.lastSeq();
    const sse = (id: string) =>
      fetch(`${url}/_changes`, { headers: { accept: 'text/event-stream', 'last-event-id': id } });
    const problem = async (res: Response) => {
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      return (await res.json()) as { code: string; errors: Record<string, string>[] };
    };
    // 2^53 + 1 and beyond would round to another position; digits only, nothing else.
    for (const bad of ['9999999999999999', '9007199254740993', '1e3', '+1', '1.0', '0x10']) {
      const body = await problem(await fetch(`${url}/_changes?since=${encodeURIComponent(bad)}`));
      expect(body.code).toBe('malformed-request');
      expect(body.errors).toEqual([{ parameter: 'since', message: expect.any(String) }]);
      expect((await problem(await sse(bad))).errors).toEqual([
        { header: 'Last-Event-ID', message: expect.any(String) },
      ]);
    }
    // Past the newest sequence plus one: a position from another database, or a typo.
    const ahead = await problem(await fetch(`${url}/_changes?since=${newest + 2}`));
    expect(ahead.errors).toEqual([{ parameter: 'since', message: expect.stringContaining(`${newest + 1}`) }]);
    expect((await problem(await sse(String(newest + 2)))).errors[0]).toMatchObject({
      header: 'Last-Event-ID',
    });
    // The newest and the one after it are where a caught-up reader stands.
    for (const since of [newest, newest + 1]) {
      const page = (await (await fetch(`${url}/_changes?since=${since}`)).json()) as { last: number };
      expect(page.last).toBe(since);
    }
    const stop = new AbortController();
    const res = await fetch(`${url}/_changes`, {
      headers: { accept: 'text/event-stream', 'last-event-id': String(newest + 1) },
      signal: stop.signal,
    });
    expect(res.status).toBe(200);
    stop.abort();
    // Leading zeros are still digits of the same number.
    expect((await fetch(`${url}/_changes?since=00${newest}`)).status).toBe(200);
  });
});

describe('change feed as Server-Sent Events', () => {
  it('delivers every write exactly once, in commit order, while writers run concurrently', async () => {
    const since = await store.lastSeq();
    const writers = 8;
    const perWriter = 60;
    const total = writers * perWriter;
    const received: Event[] = [];
    const res = await fetch(`${url}/_changes?since=${since}`, { headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reading = readEvents(res, (e) => {
      received.push(e);
      return received.length === total;
    });
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          const r = await fetch(`${url}/tasks/w${w}`, json({ i }));
          expect(r.status).toBeLessThan(300);
        }
      }),
    );
    await reading;
    const seqs = received.map((e) => e.data.seq);
    expect(seqs).toEqual(Array.from({ length: total }, (_, k) => since + 1 + k));
    expect(received.every((e) => e.event === 'change' && e.id === String(e.data.seq))).toBe(true);
    // Per resource, versions arrive in order with nothing missing.
    for (let w = 0; w < writers; w++) {
      const versions = received.filter((e) => e.data.id === `w${w}`).map((e) => e.data.version);
      expect(versions).toEqual(Array.from({ length: perWriter }, (_, k) => k + 1));
    }
    // And it is exactly what the store committed.
    const committed = await store.changes({ since, limit: total + 10 });
    expect(committed.map((c) => c.seq)).toEqual(seqs);
  });

  it('resumes after a disconnect from Last-Event-ID with no gap and no repeat', async () => {
    const since = await store.lastSeq();
    for (let i = 0; i < 10; i++) await fetch(`${url}/notes/r`, json({ i }));
    const first: number[] = [];
    await readEvents(
      await fetch(`${url}/notes/_changes?since=${since}`, { headers: { accept: 'text/event-stream' } }),
      (e) => {
        first.push(e.data.seq);
        return first.length === 4;
      },
    );
    const second: number[] = [];
    const res = await fetch(`${url}/notes/_changes?since=${since}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': String(first[first.length - 1]) },
    });
    const reading = readEvents(res, (e) => {
      second.push(e.data.seq);
      return second.length === 8;
    });
    for (let i = 10; i < 12; i++) await fetch(`${url}/notes/r`, json({ i }));
    await reading;
    expect([...first, ...second]).toEqual(Array.from({ length: 12 }, (_, k) => since + 1 + k));
  });

  it('sends heartbeats while nothing happens', async () => {
    const comments: string[] = [];
    const controller = new AbortController();
    const res = await fetch(`${url}/_changes?since=now`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    await readEvents(
      res,
      () => true,
      (c) => {
        comments.push(c);
        if (comments.filter((x) => x === 'heartbeat').length === 2) controller.abort();
      },
    ).catch((error: unknown) => expect((error as Error).name).toBe('AbortError'));
    expect(comments.filter((c) => c === 'heartbeat')).toHaveLength(2);
  });

  it('holds at most a page for a consumer that does not read, however many writes it misses', async () => {
    const since = await store.lastSeq();
    const socket = connect(new URL(url).port ? Number(new URL(url).port) : 80, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET /_changes?since=${since} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    socket.pause(); // never read: the kernel buffers fill, then the server must stop producing
    await new Promise((r) => setTimeout(r, 100));
    const stream = streams[streams.length - 1]!;
    const body = 'x'.repeat(4000);
    let maxBuffered = 0;
    for (let i = 0; i < 1500; i++) {
      await fetch(`${url}/notes/big${i % 50}`, json({ body }));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      maxBuffered = Math.max(maxBuffered, stream.writableLength);
    }
    await new Promise((r) => setTimeout(r, 200));
    maxBuffered = Math.max(maxBuffered, stream.writableLength);
    // 1500 changes of ~4 KB were written (6 MB); the stream buffered at most about one page of 100.
    expect(maxBuffered).toBeLessThan(100 * 4200 + 64 * 1024);
    expect(stream.writableNeedDrain).toBe(true);
    socket.destroy();
  });
});

describe('shutdown', () => {
  it('ends open streams so that close() does not hang', async () => {
    const own = openSqliteStore({ path: ':memory:' });
    const server = await createServer(parseConfigText('collections: { a: {} }'), {
      store: own,
      logger: false,
    });
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${address}/_changes`, { headers: { accept: 'text/event-stream' } });
    const reading = res.text();
    const started = Date.now();
    await server.close();
    await reading; // the stream ended: the server closed it
    expect(Date.now() - started).toBeLessThan(5000);
    await own.close();
  });
});

describe('retention', () => {
  it('answers 410 history-expired to readers behind the pruned part, and the rest as usual', async () => {
    const own = openSqliteStore({ path: ':memory:' });
    const server = await createServer(
      parseConfigText('changeFeed: { keep: 100 }\ncollections: { a: { history: { keep: 1 } } }'),
      { store: own, logger: false },
    );
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      for (let i = 0; i < 150; i++) await fetch(`${address}/a/x${i % 3}`, json({ i }));
      const pruned = await pruneFeed({ store: own, config: { changeFeedKeep: 100 } } as never);
      expect(pruned).toBeGreaterThan(0);
      const floor = await own.feedFloor();
      expect(floor).toBe(50);
      const expired = await fetch(`${address}/_changes?since=10`);
      expect(expired.status).toBe(410);
      expect(await expired.json()).toMatchObject({ code: 'history-expired', oldestAvailable: 51 });
      expect((await fetch(`${address}/_changes`)).status).toBe(410); // no since means 0
      const stream = await fetch(`${address}/_changes`, {
        headers: { accept: 'text/event-stream', 'last-event-id': '3' },
      });
      expect(stream.status).toBe(410);
      const ok = (await (await fetch(`${address}/_changes?since=${floor}&limit=1000`)).json()) as {
        results: { seq: number }[];
      };
      expect(ok.results.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, k) => floor + 1 + k));
    } finally {
      await server.close();
      await own.close();
    }
  });
});
