/**
 * `@truce/client-node`'s `nodeFetch()`: the fetch behaviour the SDK relies on, against a raw HTTP
 * server that can misbehave, and the SDK itself over it against a real Truce server (keyed
 * increments from many concurrent clients, conflicting updates, the change feed).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Change } from '@truce/client';
import { nodeFetch, type NodeFetch } from '@truce/client-node';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

let raw: Server;
let base: string;
let handler: Handler = (_req, res) => res.end();
const sockets = new Set<Socket>();
let connections = 0;
let fetcher: NodeFetch;

beforeAll(async () => {
  raw = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(parts)));
  });
  raw.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(raw.address() as { port: number }).port}`;
  fetcher = nodeFetch();
});
afterAll(async () => {
  fetcher.close();
  raw.closeAllConnections();
  await new Promise((resolve) => raw.close(resolve));
});

describe('nodeFetch', () => {
  it('sends method, headers and a string body, and answers status, headers (repeated ones too) and body', async () => {
    handler = (req, res, body) => {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.writeHead(201, 'Made', { 'content-type': 'application/json', etag: '"7"' });
      res.end(
        JSON.stringify({
          method: req.method,
          type: req.headers['content-type'],
          length: req.headers['content-length'],
          actor: req.headers['truce-actor'],
          body: body.toString(),
        }),
      );
    };
    const res = await fetcher(`${base}/things?x=1`, {
      method: 'post',
      headers: [['truce-actor', 'ana']],
      body: 'héllo',
    });
    expect(res.status).toBe(201);
    expect(res.statusText).toBe('Made');
    expect(res.ok).toBe(true);
    expect(res.headers.get('etag')).toBe('"7"');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toEqual({
      method: 'POST',
      type: 'text/plain;charset=UTF-8',
      length: '6',
      actor: 'ana',
      body: 'héllo',
    });
  });

  it('sends bytes as they are, and has no body for HEAD, 204 and 304', async () => {
    handler = (req, res, body) => {
      if (req.url === '/none') return void res.writeHead(204).end();
      if (req.url === '/same') return void res.writeHead(304, { etag: '"1"' }).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    };
    const bytes = new Uint8Array([0, 255, 1, 254, 10, 13]);
    const echoed = await fetcher(`${base}/echo`, { method: 'PUT', body: bytes.subarray(1, 5) });
    expect(new Uint8Array(await echoed.arrayBuffer())).toEqual(new Uint8Array([255, 1, 254, 10]));
    for (const [path, method] of [
      ['/none', 'GET'],
      ['/same', 'GET'],
      ['/echo', 'HEAD'],
    ] as const) {
      const res = await fetcher(`${base}${path}`, { method });
      expect(res.body).toBeNull();
      expect(await res.text()).toBe('');
    }
  });

  it('reads a body once, as fetch does, whichever way it is read', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"a":"é"}');
    let res = await fetcher(`${base}/j`);
    expect(res.bodyUsed).toBe(false);
    expect(await res.json()).toEqual({ a: 'é' });
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toBeInstanceOf(TypeError);
    expect(() => res.clone()).toThrow(TypeError);

    res = await fetcher(`${base}/j`);
    const copy = res.clone();
    expect(await res.text()).toBe('{"a":"é"}');
    expect(new TextDecoder().decode(await copy.arrayBuffer())).toBe('{"a":"é"}');
    await expect(res.arrayBuffer()).rejects.toBeInstanceOf(TypeError);

    res = await fetcher(`${base}/j`);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('{"a":"é"}');
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toBeInstanceOf(TypeError);
    expect(res).toBeInstanceOf(Response);

    handler = (_req, res) => res.writeHead(200).end('not json');
    res = await fetcher(`${base}/j`);
    await expect(res.json()).rejects.toBeInstanceOf(SyntaxError);
  });

  it('returns a redirect as it came instead of following it', async () => {
    handler = (_req, res) => res.writeHead(302, { location: '/elsewhere' }).end();
    const res = await fetcher(`${base}/moved`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/elsewhere');
  });

  it('keeps one connection alive across sequential requests', async () => {
    handler = (_req, res) => res.end('ok');
    const own = nodeFetch();
    try {
      const before = connections;
      for (let i = 0; i < 20; i++) expect(await (await own(`${base}/k`)).text()).toBe('ok');
      expect(connections - before).toBe(1);
    } finally {
      own.close();
    }
  });

  it('rejects as fetch does: an abort with its reason, network failures and bad input with TypeError', async () => {
    const already = AbortSignal.abort();
    await expect(fetcher(`${base}/x`, { signal: already })).rejects.toMatchObject({ name: 'AbortError' });

    // Aborted while the server takes its time: rejected at once, and the connection is closed.
    let closed = false;
    handler = (req) => req.socket.once('close', () => (closed = true));
    const controller = new AbortController();
    const pending = fetcher(`${base}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    for (let i = 0; i < 100 && !closed; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closed).toBe(true);

    // An answer cut short of its Content-Length.
    handler = (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    await expect(fetcher(`${base}/cut`)).rejects.toBeInstanceOf(TypeError);

    const refused = await fetcher('http://127.0.0.1:1/').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    await expect(fetcher('ftp://127.0.0.1/x')).rejects.toThrow(/http: and https:/);
    await expect(fetcher('http://user:secret@127.0.0.1:1/')).rejects.toBeInstanceOf(TypeError);
    await expect(fetcher(`${base}/x`, { method: 'GET', body: 'no' })).rejects.toBeInstanceOf(TypeError);
    await expect(fetcher('not a url')).rejects.toBeInstanceOf(TypeError);
  });

  it('fails a request that hears nothing for idleTimeoutMs, and reuses connections idle for longer', async () => {
    const own = nodeFetch({ idleTimeoutMs: 200 });
    try {
      handler = () => {};
      const began = performance.now();
      const silent = await own(`${base}/silent`).catch((error: unknown) => error);
      expect(silent).toBeInstanceOf(TypeError);
      expect(String((silent as { cause?: unknown }).cause)).toMatch(/nothing received or sent for 200 ms/);
      expect(performance.now() - began).toBeLessThan(2_000);

      handler = (_req, res) => res.end('ok');
      expect(await (await own(`${base}/a`)).text()).toBe('ok');
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await (await own(`${base}/b`)).text()).toBe('ok');
    } finally {
      own.close();
    }
  });

  it('streams a text/event-stream body as it arrives, and an abort ends it', async () => {
    let finish: () => void = () => {};
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      finish = () => res.end('data: two\n\n');
    };
    const controller = new AbortController();
    const res = await fetcher(`${base}/events`, { signal: controller.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: one\n\n');
    finish();
    const second = await reader.read();
    expect(new TextDecoder().decode(second.value)).toBe('data: two\n\n');
    expect((await reader.read()).done).toBe(true);

    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
    };
    const other = new AbortController();
    const open = await fetcher(`${base}/events`, { signal: other.signal });
    const stream = open.body!.getReader();
    await stream.read();
    other.abort();
    await expect(stream.read()).rejects.toBeDefined();
  });
});

describe('the SDK over nodeFetch, against a Truce server', () => {
  let server: TestServer;
  let transport: NodeFetch;
  beforeAll(async () => {
    server = await startTestServer(
      'collections:\n  counters:\n    schema:\n      type: object\n      properties:\n        n: { type: integer, minimum: 0 }\n  notes: {}\n',
    );
    transport = nodeFetch();
  });
  afterAll(async () => {
    transport.close();
    await server.close();
  });

  it('keeps keyed increments from 32 concurrent clients exact', async () => {
    const api = createClient({ baseUrl: server.url, fetch: transport });
    await api.create('counters', { id: 'c', n: 0 });
    const clients = Array.from({ length: 32 }, (_, i) =>
      createClient({ baseUrl: server.url, fetch: transport, headers: { 'truce-actor': `w${i}` } }),
    );
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < 20; i++) await client.increment('counters', 'c', '/n', 1);
      }),
    );
    const final = await api.get('counters', 'c');
    expect(final.data).toMatchObject({ n: 640, _version: 641 });
  });

  it('merges conflicting updates: every writer’s field lands, none is lost', async () => {
    const api = createClient<{ notes: Record<string, unknown> }>({ baseUrl: server.url, fetch: transport });
    await api.create('notes', { id: 'shared' });
    const writers = Array.from({ length: 12 }, () =>
      createClient<{ notes: Record<string, unknown> }>({ baseUrl: server.url, fetch: transport }),
    );
    await Promise.all(writers.map((w) => w.get('notes', 'shared')));
    await Promise.all(
      // Twelve writers on one version: up to twelve rounds for the last one to land.
      writers.map((w, i) =>
        w.update('notes', 'shared', (doc) => ({ ...doc, [`field${i}`]: i }), { rounds: 20 }),
      ),
    );
    const final = await api.get('notes', 'shared');
    for (let i = 0; i < 12; i++) expect(final.data[`field${i}`]).toBe(i);
  });

  it('follows the change feed', async () => {
    const api = createClient<{ notes: { text?: string } }>({ baseUrl: server.url, fetch: transport });
    const feed = api.changes('notes', { since: 'now' });
    const next = feed.next();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await api.create('notes', { id: 'fed', text: 'hello' });
    const change = (await next).value as Change<{ text?: string }, 'notes'>;
    expect(change).toMatchObject({ op: 'create', id: 'fed', doc: { text: 'hello' } });
    await feed.return();
  });
});
