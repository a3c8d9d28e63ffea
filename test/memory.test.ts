import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, freePort, requireBuild, startServe, tempDir } from './helpers.js';

/*
 * Issue 10, item 2: the server's memory must be bounded in bytes, not in items. A `truce serve`
 * process holds 100 documents of 0.9 MB; then the attacks of the review run against it, each left
 * in place while the next starts, and its resident memory must stay under 300 MB throughout.
 */

const DOCS = 100;
const DOC_BYTES = 900_000;
const RSS_LIMIT_MB = 300;

let dir: ReturnType<typeof tempDir>;
let server: { child: ChildProcess; url: string };
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  requireBuild();
  dir = tempDir('truce-memory-');
  writeFileSync(join(dir.path, 'truce.yaml'), 'collections:\n  docs: {}\n');
  port = await freePort();
  server = await startServe([
    '--config',
    join(dir.path, 'truce.yaml'),
    '--listen',
    `127.0.0.1:${port}`,
    '--storage',
    `sqlite:${join(dir.path, 'memory.db')}`,
  ]);
  // Four writers at a time: 90 MB of documents in a few seconds.
  const ids = Array.from({ length: DOCS }, (_, i) => `d${String(i).padStart(3, '0')}`);
  for (let i = 0; i < ids.length; i += 4) {
    await Promise.all(
      ids.slice(i, i + 4).map(async (id) => {
        const res = await fetch(`${server.url}/docs/${id}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: id.repeat(DOC_BYTES / id.length) }),
        });
        expect(res.status).toBe(201);
      }),
    );
  }
}, 90_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  if (server) {
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
    await exited(server.child);
    clearTimeout(timer);
  }
  dir?.remove();
});

/** The server's resident memory in MB, and the highest it has been (VmRSS and VmHWM). */
function memory(): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** A raw connection that sends `text` and then never reads what comes back. */
async function paused(text: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  socket.pause();
  socket.write(text);
  return socket;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits `ms` while the server works on what it was sent, remembering the highest RSS seen. */
async function settle(ms: number, seen: number[]): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seen.push(memory().rss);
    await sleep(50);
  }
}

describe('memory is bounded in bytes', () => {
  it('keeps the server under 300 MB through the four attacks of the review, and it still answers', async () => {
    const seen: number[] = [memory().rss];

    // 1. A 300-byte non-atomic batch of five list reads (once 450 MB of answer).
    const batch = await fetch(`${server.url}/_batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        atomic: false,
        operations: Array.from({ length: 5 }, () => ({ method: 'GET', path: '/docs?limit=1000' })),
      }),
    });
    expect(batch.status).toBe(200);
    const { results } = (await batch.json()) as { results: { status: number; body: { next: string } }[] };
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    for (const r of results) expect(r.body.next).toEqual(expect.any(String));
    await settle(500, seen);

    // 2. Five readers of the JSON feed that never read (once 100 MB each).
    for (let i = 0; i < 5; i++) await paused('GET /_changes HTTP/1.1\r\nhost: x\r\n\r\n');
    await settle(1000, seen);

    // 3. Five list reads of 1,000 items that never read (once 900 MB together).
    for (let i = 0; i < 5; i++) await paused('GET /docs?limit=1000 HTTP/1.1\r\nhost: x\r\n\r\n');
    await settle(1000, seen);

    // 4. 3,000 event-stream requests pipelined on one socket (once 1.35 GB).
    await paused('GET /_changes HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n'.repeat(3000));
    await settle(2000, seen);

    // The server still answers a normal request, with every attacker still connected.
    const res = await fetch(`${server.url}/docs/d042`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { text: string }).text).toHaveLength(DOC_BYTES);

    const { peak } = memory();
    expect(Math.max(...seen)).toBeLessThan(RSS_LIMIT_MB);
    expect(peak).toBeLessThan(RSS_LIMIT_MB);
  }, 60_000);
});
