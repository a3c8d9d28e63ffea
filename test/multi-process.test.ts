import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exited, freePort, requireBuild, startServe, tempDir } from './helpers.js';
import { describeWithPostgres, dropSchema, newSchemaName } from './support/postgres.js';

/*
 * Issue 5, part 4: three `truce serve` processes on one PostgreSQL database, with the writers of
 * every test spread over them. Each guarantee the resource server makes within one process must
 * hold across processes: no lost update, unique keys, bounded stock, idempotency keys (the retry
 * reaches another process), leases, and the change feed (a stream on one process sees the writes
 * made through the others, in commit order, exactly once).
 */

const CONFIG = `
collections:
  counters: {}
  users:
    schema: { type: object, required: [email], properties: { email: { type: string } } }
    unique: [ { fields: [email], caseInsensitive: true } ]
  products:
    schema: { type: object, properties: { stock: { type: integer, minimum: 0 } } }
  docs: {}
`;

interface Proc {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything the process wrote so far, for failure messages. */
  readonly output: () => string;
}

const json = (method: string, body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

describeWithPostgres('several server processes on one PostgreSQL', (pgUrl) => {
  const schema = newSchemaName('multi');
  let dir: ReturnType<typeof tempDir>;
  let procs: Proc[] = [];
  /** The process that serves the i-th request of a test: round robin over all of them. */
  const at = (i: number) => procs[i % procs.length]!.url;

  beforeAll(async () => {
    requireBuild();
    dir = tempDir('truce-multi-');
    const file = join(dir.path, 'truce.yaml');
    writeFileSync(file, `${CONFIG}\npostgres: { schema: ${schema}, poolSize: 6 }\n`);
    // One first, so that the others find the schema migrated; then two more at once.
    const first = await startServe([
      '--config',
      file,
      '--storage',
      pgUrl,
      '--listen',
      `127.0.0.1:${await freePort()}`,
    ]);
    const rest = await Promise.all(
      [0, 1].map(async () =>
        startServe(['--config', file, '--storage', pgUrl, '--listen', `127.0.0.1:${await freePort()}`]),
      ),
    );
    procs = [first, ...rest];
  });

  afterAll(async () => {
    await Promise.all(
      procs.map(async (p) => {
        p.child.kill('SIGTERM');
        await exited(p.child);
      }),
    );
    await dropSchema(pgUrl, schema);
    dir.remove();
  });

  it('three processes started on one fresh schema all serve it', async () => {
    expect(procs).toHaveLength(3);
    for (const p of procs) {
      const res = await fetch(`${p.url}/_health`);
      expect(await res.json()).toEqual({ status: 'ok', store: 'postgres' });
    }
  });

  it('no lost update: 16 If-Match writers over 3 processes, every success counted', async () => {
    expect((await fetch(`${at(0)}/counters/c`, json('PUT', { n: 0 }))).status).toBe(201);
    let conflicts = 0;
    const writer = async (w: number) => {
      for (let done = 0, attempt = 0; done < 5; attempt++) {
        const base = at(w + attempt);
        const read = await fetch(`${base}/counters/c`);
        const { n } = (await read.json()) as { n: number };
        const res = await fetch(
          `${at(w + attempt + 1)}/counters/c`,
          json('PUT', { n: n + 1 }, { 'if-match': read.headers.get('etag')! }),
        );
        if (res.status === 200) done++;
        else {
          expect(res.status).toBe(412);
          conflicts++;
        }
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));
    const final = (await (await fetch(`${at(2)}/counters/c`)).json()) as { n: number; _version: number };
    expect(final.n).toBe(80);
    expect(final._version).toBe(81);
    expect(conflicts).toBeGreaterThan(0);
  });

  it('unique keys hold: 30 creates of one e-mail (any case) over 3 processes, one 201', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const email = i % 2 === 0 ? 'Same@Example.com' : 'same@example.COM';
        const res = await fetch(`${at(i)}/users`, json('POST', { email }));
        const body = (await res.json()) as { code?: string };
        if (res.status !== 201) expect(body.code).toBe('unique-violation');
        return res.status;
      }),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(29);
  });

  it('stock never goes negative: 60 decrements of a stock of 10 over 3 processes, exactly 10 pass', async () => {
    expect((await fetch(`${at(0)}/products/p`, json('PUT', { stock: 10 }))).status).toBe(201);
    const statuses = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const res = await fetch(
          `${at(i)}/products/p/_increment`,
          json('POST', { pointer: '/stock', by: -1 }),
        );
        const body = (await res.json()) as { code?: string };
        if (res.status !== 200) expect(body.code).toBe('insufficient');
        return res.status;
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    const product = (await (await fetch(`${at(1)}/products/p`)).json()) as {
      stock: number;
      _version: number;
    };
    expect(product).toMatchObject({ stock: 0, _version: 11 });
  });

  it('keyed increments over 3 processes: each key applies once, a refusal fails alone, totals exact', async () => {
    expect((await fetch(`${at(0)}/products/keyed`, json('PUT', { stock: 10 }))).status).toBe(201);
    const send = (i: number, key: string, by: number) =>
      fetch(
        `${at(i)}/products/keyed/_increment`,
        json('POST', { pointer: '/stock', by }, { 'idempotency-key': key }),
      );
    // 40 keyed decrements of a stock of 10, each key sent twice at once, to two processes.
    const answers = await Promise.all(
      Array.from({ length: 80 }, async (_, i) => {
        const res = await send(i, `take-${i >> 1}`, -1);
        return {
          key: i >> 1,
          status: res.status,
          replayed: res.headers.get('idempotent-replayed'),
          body: await res.text(),
        };
      }),
    );
    for (const a of answers) {
      // Applied, refused (insufficient), replayed, or told that its twin is still running.
      const code = a.status === 200 ? null : (JSON.parse(a.body) as { code: string }).code;
      expect([null, 'insufficient', 'idempotency-in-flight'], a.body).toContain(code);
    }
    // Every key has exactly one first answer (applied or refused); the twin replayed it or was told
    // to wait. A later retry, at another process, replays that first answer.
    const firsts = answers.filter((a) => a.replayed === null && !a.body.includes('idempotency-in-flight'));
    expect(firsts.map((a) => a.key).sort((x, y) => x - y)).toStrictEqual(
      Array.from({ length: 40 }, (_, k) => k),
    );
    expect(firsts.filter((a) => a.status === 200)).toHaveLength(10);
    for (const first of firsts) {
      const again = await send(first.key + 1, `take-${first.key}`, -1);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect({ status: again.status, body: await again.text() }).toStrictEqual({
        status: first.status,
        body: first.body,
      });
    }
    // Then 24 clients x 5 keyed increments of +1, spread over the processes.
    await Promise.all(
      Array.from({ length: 24 }, async (_, c) => {
        for (let n = 0; n < 5; n++) expect((await send(c + n, `add-${c}-${n}`, 1)).status).toBe(200);
      }),
    );
    const product = (await (await fetch(`${at(2)}/products/keyed`)).json()) as {
      stock: number;
      _version: number;
    };
    expect(product).toMatchObject({ stock: 120, _version: 131 });
  });

  it('idempotency holds across processes: duplicates sent to all three create one resource', async () => {
    const send = (i: number) =>
      fetch(`${at(i)}/users`, json('POST', { email: 'idem@example.com' }, { 'idempotency-key': 'signup-1' }));
    const first = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i)));
    const statuses = first.map((r) => r.status);
    // Each one either made the user, replayed that answer, or was told the first is still running.
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const made = first.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
    expect(made).toHaveLength(1);
    const id = ((await made[0]!.json()) as { id: string }).id;
    // A retry that arrives later, at another process, gets the stored answer.
    for (let i = 0; i < 3; i++) {
      const again = await send(i);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(((await again.json()) as { id: string }).id).toBe(id);
    }
    const list = (await (await fetch(`${at(0)}/users?email=idem@example.com`)).json()) as {
      items: unknown[];
    };
    expect(list.items).toHaveLength(1);
  });

  it('leases hold across processes', async () => {
    expect((await fetch(`${at(0)}/docs/plan`, json('PUT', { text: 'v1' }))).status).toBe(201);
    // 15 acquirers over three processes: exactly one lease.
    const tries = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        fetch(`${at(i)}/docs/plan/_lock`, json('POST', { ttl: 60, owner: `o${i}` })),
      ),
    );
    const won = tries.filter((r) => r.status === 201);
    expect(won).toHaveLength(1);
    expect(tries.filter((r) => r.status === 423)).toHaveLength(14);
    const token = won[0]!.headers.get('lock-token')!;
    // A write through another process without the token is refused; with it, it goes through.
    for (let i = 0; i < 3; i++) {
      const refused = await fetch(`${at(i)}/docs/plan`, json('PUT', { text: `x${i}` }));
      expect(refused.status).toBe(423);
      expect(((await refused.json()) as { code: string }).code).toBe('locked');
    }
    const allowed = await fetch(`${at(2)}/docs/plan`, json('PUT', { text: 'v2' }, { 'lock-token': token }));
    expect(allowed.status).toBe(200);
    // Released through yet another process, the resource is free for everyone.
    const release = await fetch(`${at(1)}/docs/plan/_lock`, {
      method: 'DELETE',
      headers: { 'lock-token': token },
    });
    expect(release.status).toBe(204);
    expect((await fetch(`${at(0)}/docs/plan`, json('PUT', { text: 'v3' }))).status).toBe(200);
  });

  it('a change stream on one process sees the writes made through the others, in commit order, once each', async () => {
    const start = (await (await fetch(`${at(0)}/_changes?since=now`)).json()) as { last: number };
    const abort = new AbortController();
    const stream = await fetch(`${at(0)}/docs/_changes?since=${start.last}`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(stream.status).toBe(200);
    // 40 writes, through the two other processes, 8 at a time.
    const writes = Array.from({ length: 40 }, (_, i) => i);
    const writing = (async () => {
      for (let i = 0; i < writes.length; i += 8) {
        await Promise.all(
          writes
            .slice(i, i + 8)
            .map((w) =>
              fetch(`${procs[1 + (w % 2)]!.url}/docs/feed-${w}`, json('PUT', { w })).then((r) => r.status),
            ),
        );
      }
    })();
    const seqs: number[] = [];
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    while (seqs.length < 40) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (\d+)$/m.exec(event);
        if (id) seqs.push(Number(id[1]));
      }
    }
    abort.abort();
    await writing;
    // Exactly the committed sequence, as the JSON feed of a third process lists it.
    const page = (await (await fetch(`${at(2)}/docs/_changes?since=${start.last}&limit=1000`)).json()) as {
      results: { seq: number; id: string }[];
    };
    expect(page.results.map((r) => r.seq)).toStrictEqual(seqs);
    expect(new Set(page.results.map((r) => r.id)).size).toBe(40);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
  });

  it('a process killed with SIGKILL under load loses no acknowledged write and leaves no lock behind', async () => {
    const victim = procs[1]!;
    const acknowledged = new Map<string, number>();
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await fetch(`${victim.url}/counters/k-${w}`, json('PUT', { i }));
          if (res.status === 200 || res.status === 201) {
            acknowledged.set(`k-${w}`, ((await res.json()) as { _version: number })._version);
          } else await res.arrayBuffer();
        } catch {
          return; // the connection died with the process
        }
      }
    };
    const writing = Promise.all(Array.from({ length: 12 }, (_, w) => writer(w)));
    while (acknowledged.size < 12) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    victim.child.kill('SIGKILL');
    await exited(victim.child);
    stop = true;
    await writing;
    // Every acknowledged version is there, and the same resources take writes through another
    // process at once: the killed process's open transactions were rolled back, their locks freed.
    for (const [id, version] of acknowledged) {
      const res = await fetch(`${at(0)}/counters/${id}`);
      const head = (await res.json()) as { _version: number };
      expect(head._version).toBeGreaterThanOrEqual(version);
      const write = await fetch(
        `${at(0)}/counters/${id}`,
        json('PUT', { after: true }, { 'if-match': res.headers.get('etag')! }),
      );
      expect(write.status).toBe(200);
    }
    procs = procs.filter((p) => p !== victim);
  });

  it('SIGTERM drains the requests in flight, then the process exits 0', async () => {
    const leaving = procs[procs.length - 1]!;
    const outcomes = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        if (i === 8) leaving.child.kill('SIGTERM');
        try {
          const res = await fetch(`${leaving.url}/counters/drain-${i}`, {
            ...json('PUT', { i }),
            signal: AbortSignal.timeout(15_000),
          });
          await res.arrayBuffer();
          return res.status;
        } catch (error) {
          // Sent after the process stopped listening; a timeout is reported as such.
          return (error as Error).name === 'TimeoutError' ? 'no answer in 15 s' : 'refused';
        }
      }),
    );
    const code = await Promise.race([
      exited(leaving.child),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000)),
    ]);
    expect(code, `outcomes ${JSON.stringify(outcomes)}; output:\n${leaving.output()}`).toBe(0);
    // Whatever was answered 201 is there; nothing was cut off half way with a 5xx.
    expect(
      outcomes.filter((o) => (typeof o === 'number' && o >= 500) || o === 'no answer in 15 s'),
    ).toStrictEqual([]);
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome === 201) expect((await fetch(`${at(0)}/counters/drain-${i}`)).status).toBe(200);
    }
    procs = procs.filter((p) => p !== leaving);
  });
});
