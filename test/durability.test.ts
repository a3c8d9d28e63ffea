import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, freePort, requireBuild, startServe, tempDir } from './helpers.js';

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  requireBuild();
  dir = tempDir();
});
afterAll(() => dir.remove());

interface Ack {
  version: number;
  etag: string;
  n: number;
}

describe('durability (SPEC 3.12)', () => {
  it('a server killed with kill -9 during a write load loses no acknowledged write', async () => {
    const port = await freePort();
    const args = [
      '-c',
      'examples/shop/truce.yaml',
      '-l',
      `127.0.0.1:${port}`,
      '-s',
      `sqlite:${join(dir.path, 'kill.db')}`,
    ];
    const first = await startServe(args);
    const acked = new Map<string, Ack>();
    let stop = false;
    // 16 writers, each updating its own 4 documents in turn with If-Match, recording every acknowledgement.
    const writers = Array.from({ length: 16 }, async (_, w) => {
      const etags = new Map<string, string>();
      for (let n = 1; !stop; n++) {
        const id = `w${w}-${n % 4}`;
        const prev = etags.get(id);
        let res: Response;
        let doc: { _version: number };
        try {
          res = await fetch(`${first.url}/documents/${id}`, {
            method: 'PUT',
            headers: {
              'content-type': 'application/json',
              ...(prev ? { 'if-match': prev } : { 'if-none-match': '*' }),
            },
            body: JSON.stringify({ title: `write ${n}`, body: 'x'.repeat(200) }),
          });
          doc = (await res.json()) as { _version: number };
        } catch {
          return; // the connection died with the server; that write was never acknowledged
        }
        // Each writer owns its documents, so anything but success is a bug.
        expect([200, 201], JSON.stringify(doc)).toContain(res.status);
        const etag = res.headers.get('etag')!;
        etags.set(id, etag);
        acked.set(id, { version: doc._version, etag, n });
      }
    });
    // Let the load run, then kill the process without warning in the middle of it.
    await new Promise((r) => setTimeout(r, 1500));
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    await exited(first.child);
    expect(acked.size).toBeGreaterThan(16);

    const second = await startServe(args);
    try {
      for (const [id, ack] of acked) {
        const res = await fetch(`${second.url}/documents/${id}`);
        expect(res.status, id).toBe(200);
        const doc = (await res.json()) as { _version: number; title: string };
        // The acknowledged version is there: either still current, or (for a write in flight at the
        // kill that committed but was never acknowledged) its successor.
        expect(doc._version, id).toBeGreaterThanOrEqual(ack.version);
        const past = await fetch(`${second.url}/documents/${id}/_versions/${ack.version}`);
        expect(past.status, id).toBe(200);
        expect(past.headers.get('etag'), id).toBe(ack.etag);
        expect(((await past.json()) as { title: string }).title, id).toBe(`write ${ack.n}`);
      }
    } finally {
      second.child.kill('SIGTERM');
      await exited(second.child);
    }
  }, 60_000);

  it('keyed increments of one counter killed mid-load: acknowledged ones stay, and every key retried applies once', async () => {
    const port = await freePort();
    const args = [
      '-c',
      'examples/shop/truce.yaml',
      '-l',
      `127.0.0.1:${port}`,
      '-s',
      `sqlite:${join(dir.path, 'keyed.db')}`,
    ];
    const increment = (url: string, key: string) =>
      fetch(`${url}/products/hot/_increment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ pointer: '/stock', by: 1 }),
      });
    const first = await startServe(args);
    const created = await fetch(`${first.url}/products/hot`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-none-match': '*' },
      body: JSON.stringify({ sku: 'HOT-1', name: 'counter', stock: 0 }),
    });
    expect(created.status).toBe(201);
    // 32 clients, each incrementing with a fresh key per increment, as the SDK does; sent keys are
    // recorded before sending, acknowledged ones with their answer.
    const sent: string[] = [];
    const acked = new Map<string, { etag: string; body: string }>();
    let stop = false;
    const clients = Array.from({ length: 32 }, async (_, c) => {
      for (let n = 0; !stop; n++) {
        const key = `inc-${c}-${n}`;
        sent.push(key);
        try {
          const res = await increment(first.url, key);
          const body = await res.text();
          expect(res.status, body).toBe(200);
          acked.set(key, { etag: res.headers.get('etag')!, body });
        } catch {
          return; // the connection died with the server: not acknowledged
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(clients);
    await exited(first.child);
    expect(acked.size).toBeGreaterThan(32);

    const second = await startServe(args);
    try {
      // Every acknowledged increment survived: the counter holds at least that many.
      const before = (await (await fetch(`${second.url}/products/hot`)).json()) as { stock: number };
      expect(before.stock).toBeGreaterThanOrEqual(acked.size);
      // Every key sent, retried: acknowledged ones replay their answer; the others either replay
      // (committed before the kill, answer lost) or apply now. Each applies exactly once.
      for (const key of sent) {
        const res = await increment(second.url, key);
        const body = await res.text();
        expect(res.status, body).toBe(200);
        const ack = acked.get(key);
        if (ack) {
          expect(res.headers.get('idempotent-replayed'), key).toBe('true');
          expect({ etag: res.headers.get('etag'), body }).toStrictEqual(ack);
        }
      }
      const after = (await (await fetch(`${second.url}/products/hot`)).json()) as {
        stock: number;
        _version: number;
      };
      expect(after.stock).toBe(sent.length);
      expect(after._version).toBe(sent.length + 1);
    } finally {
      second.child.kill('SIGTERM');
      await exited(second.child);
    }
  }, 90_000);
});
