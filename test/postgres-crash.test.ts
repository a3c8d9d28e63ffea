// PostgreSQL itself killed with kill -9 under load (SPEC 3.12 on PostgreSQL): two `truce serve`
// processes on a cluster of the test's own, with durable defaults (fsync and synchronous_commit on),
// 32 writers through real HTTP, and a follower of the change feed. In the middle of the load the
// postmaster and every one of its children are SIGKILLed, so PostgreSQL stops without a shutdown
// checkpoint; then the cluster starts again on the same data directory (crash recovery), the
// servers reconnect by themselves, and nothing acknowledged is missing: every acknowledged version
// with its body, every keyed create and increment (which replay their answers and, resent, apply
// exactly once), and every change in the feed, once, in order, with the seqs the follower saw.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, expect, it } from 'vitest';
import {
  locatePostgresBin,
  startPostgresCluster,
  type PostgresCluster,
} from '../scripts/postgres-cluster.mjs';
import { exited, freePort, requireBuild, startServe, tempDir } from './helpers.js';
import { describeWithPostgres } from './support/postgres.js';

const CONFIG = `
collections:
  docs: { history: { keep: 100000 } }
  orders: {}
  counters: { history: { keep: 100000 } }
changeFeed: { keep: 1000000 }
postgres: { schema: crash, poolSize: 8 }
`;

/** The global setup installed PostgreSQL when it could; this test only looks for its binaries. */
const { binDir, reason } = await locatePostgresBin();
/** Finding the cluster's processes reads /proc (Linux). */
const noProc = !existsSync('/proc/self/stat');
const skipped =
  binDir === null
    ? ` (skipped: no local PostgreSQL binaries to start and kill a cluster of its own: ${reason})`
    : noProc
      ? ' (skipped: no /proc to find the cluster processes by)'
      : '';

const WRITERS = 32;
/** Every HTTP request of the test gives up after this long. */
const REQUEST_MS = 10_000;

interface Serve {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
}

/** A PUT the server acknowledged. */
interface PutAck {
  id: string;
  version: number;
  etag: string;
  n: number;
}

/** An answer the server gave to a keyed request (what a replay must repeat). */
interface Answer {
  status: number;
  etag: string | null;
  location: string | null;
  body: string;
}

/** A keyed request sent: where to, and the answer if it was acknowledged, else how it failed. */
interface Keyed {
  url: string;
  answer?: Answer;
  failure?: string;
}

/** One change as the feed lists it, reduced to what identifies it. */
interface Change {
  seq: number;
  collection: string;
  id: string;
  version: number;
  etag: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds, polling; false when `ms` passed first. */
async function until(check: () => boolean | Promise<boolean>, ms: number, every = 20): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await sleep(every);
  }
}

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function send(url: string, method: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(REQUEST_MS),
  });
}

async function answerOf(res: Response): Promise<Answer> {
  return {
    status: res.status,
    etag: res.headers.get('etag'),
    location: res.headers.get('location'),
    body: await res.text(),
  };
}

/** State and parent of a process from /proc/<pid>/stat; null when there is no such process. */
function procStat(pid: number): { state: string; ppid: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const [state = '', ppid = '0'] = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state, ppid: Number(ppid) };
}

/** A PostgreSQL process's title (`postgres: checkpointer`, `postgres: postgres truce ... idle`). */
function title(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '?';
  }
}

/** Gone, or a zombie waiting to be reaped: either way it runs no more. */
const dead = (pid: number) => {
  const stat = procStat(pid);
  return stat === null || stat.state === 'Z';
};

const childrenOf = (pid: number) =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((p) => procStat(p)?.ppid === pid);

/**
 * Kills one cluster as a crash would: the postmaster (named by the cluster's postmaster.pid) is
 * stopped first, so it forks nothing more, then all its children and it get SIGKILL; nothing gets
 * the chance to write a shutdown checkpoint. Returns the titles of the children killed.
 */
async function crash(cluster: PostgresCluster): Promise<string[]> {
  const postmaster = cluster.pid();
  if (postmaster === null) throw new Error('the cluster has no postmaster.pid');
  process.kill(postmaster, 'SIGSTOP');
  let children: number[] = [];
  let names: string[] = [];
  try {
    if (!(await until(() => procStat(postmaster)?.state === 'T', 5_000, 5)))
      throw new Error(`the postmaster ${postmaster} did not stop`);
    children = childrenOf(postmaster);
    names = children.map(title);
  } finally {
    // Whatever happened, the postmaster is not left stopped; children not listed notice its death
    // and exit by themselves.
    for (const pid of [...children, postmaster]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (!(await until(() => [postmaster, ...children].every(dead), 10_000)))
    throw new Error('the cluster processes did not die');
  return names;
}

async function setting(url: string, name: string): Promise<string> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: REQUEST_MS });
  await client.connect();
  try {
    return (await client.query<{ value: string }>('SELECT current_setting($1) AS value', [name])).rows[0]!
      .value;
  } finally {
    await client.end();
  }
}

describeWithPostgres('PostgreSQL killed with kill -9 under load', () => {
  let cluster: PostgresCluster | undefined;
  let dir: ReturnType<typeof tempDir> | undefined;
  const procs: Serve[] = [];

  afterAll(async () => {
    await Promise.all(
      procs.map(async (p) => {
        p.child.kill('SIGTERM');
        if (!(await until(() => p.child.exitCode !== null || p.child.signalCode !== null, 15_000)))
          p.child.kill('SIGKILL');
        await exited(p.child);
      }),
    );
    await cluster?.stop();
    dir?.remove();
  });

  it.skipIf(skipped !== '')(
    `nothing acknowledged is lost, and the feed keeps its order and seqs${skipped}`,
    async () => {
      requireBuild();
      cluster = await startPostgresCluster({ binDir: binDir! });
      const pg = cluster;
      // The defaults this test is about: a COMMIT returns once its WAL record is on disk.
      expect(await setting(pg.url, 'fsync')).toBe('on');
      expect(await setting(pg.url, 'synchronous_commit')).toBe('on');

      dir = tempDir('truce-pg-crash-');
      const file = join(dir.path, 'truce.yaml');
      writeFileSync(file, CONFIG);
      const serve = async () =>
        startServe(['--config', file, '--storage', pg.url, '--listen', `127.0.0.1:${await freePort()}`]);
      procs.push(await serve()); // the first migrates the schema
      procs.push(await serve());
      const at = (i: number) => procs[i % procs.length]!.url;
      const created = await send(`${at(0)}/counters/hits`, 'PUT', { n: 0 }, { 'if-none-match': '*' });
      expect(created.status).toBe(201);

      // What the writers were told, and everything else they saw.
      const puts: PutAck[] = [];
      const orders = new Map<string, Keyed & { body: unknown }>();
      const increments = new Map<string, Keyed>();
      const outcomes = new Map<string, number>();
      const surprises: string[] = [];
      const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
      /** Acknowledged writes per server process, after the restart. */
      const ackedAfter = [0, 0];
      let restarted = false;
      let stop = false;
      const acked = (w: number) => {
        count('2xx');
        if (restarted) ackedAfter[w % procs.length]!++;
      };
      /** Classifies a failed answer: the outage's 5xx are expected, anything else is a surprise. */
      const failed = async (res: Response, what: string) => {
        const text = await res.text();
        const outcome = `${res.status} ${(/"code":"([^"]+)"/.exec(text) ?? [])[1] ?? ''}`.trim();
        count(outcome);
        if (res.status < 500) surprises.push(`${what}: ${res.status} ${text.slice(0, 300)}`);
        return outcome;
      };

      const writer = async (w: number) => {
        const base = at(w);
        const etags = new Map<string, string | null>(); // null: absent; missing: unknown
        for (let n = 0; !stop; n++) {
          try {
            if (n % 4 < 2) {
              // A PUT with If-Match (or If-None-Match: * to create) on one of the writer's own documents.
              const id = `w${w}-${n % 3}`;
              if (!etags.has(id)) {
                const read = await send(`${base}/docs/${id}`, 'GET');
                await read.arrayBuffer();
                if (read.status === 200) etags.set(id, read.headers.get('etag'));
                else if (read.status === 404) etags.set(id, null);
                else {
                  count(`read ${read.status}`);
                  await sleep(50);
                  continue;
                }
              }
              const etag = etags.get(id);
              etags.delete(id); // unknown until the write is answered
              const res = await send(
                `${base}/docs/${id}`,
                'PUT',
                { w, n, text: `write ${n} by ${w}`, pad: 'x'.repeat(100) },
                etag ? { 'if-match': etag } : { 'if-none-match': '*' },
              );
              if (res.status === 200 || res.status === 201) {
                const doc = (await res.json()) as { _version: number };
                etags.set(id, res.headers.get('etag'));
                puts.push({ id, version: doc._version, etag: res.headers.get('etag')!, n });
                acked(w);
              } else {
                // Outcome unknown (or a surprise): the document is read again before the next write.
                await failed(res, `PUT docs/${id}`);
                await sleep(50);
              }
            } else if (n % 4 === 2) {
              // A create with an Idempotency-Key.
              const key = `order-${w}-${n}`;
              const body = { w, n, item: `item ${n}` };
              const entry: Keyed & { body: unknown } = { url: base, body };
              orders.set(key, entry);
              const res = await send(`${base}/orders`, 'POST', body, { 'idempotency-key': key });
              if (res.status === 201) {
                entry.answer = await answerOf(res);
                acked(w);
              } else {
                entry.failure = await failed(res, `POST orders ${key}`);
                await sleep(50);
              }
            } else {
              // A keyed increment of the one shared counter.
              const key = `inc-${w}-${n}`;
              const entry: Keyed = { url: base };
              increments.set(key, entry);
              const res = await send(
                `${base}/counters/hits/_increment`,
                'POST',
                { pointer: '/n', by: 1 },
                { 'idempotency-key': key },
              );
              if (res.status === 200) {
                entry.answer = await answerOf(res);
                acked(w);
              } else {
                entry.failure = await failed(res, `increment ${key}`);
                await sleep(50);
              }
            }
          } catch (error) {
            // The server processes stay up, so this is a timeout or a connection the server cut.
            count(`fetch ${(error as Error).name}`);
            await sleep(50);
          }
        }
      };

      // The follower: polls the feed on the second process, recording every change it is shown.
      const followed: Change[] = [];
      let followerStop = false;
      const follower = (async () => {
        let since = 0;
        for (;;) {
          try {
            const res = await send(`${at(1)}/_changes?since=${since}&limit=1000`, 'GET');
            if (res.status !== 200) {
              await res.arrayBuffer();
              await sleep(50);
              continue;
            }
            const page = (await res.json()) as { results: Change[]; last: number };
            for (const c of page.results) {
              followed.push({
                seq: c.seq,
                collection: c.collection,
                id: c.id,
                version: c.version,
                etag: c.etag,
              });
            }
            since = page.last;
            if (page.results.length === 0) {
              if (followerStop) return;
              await sleep(20);
            }
          } catch {
            await sleep(50);
          }
        }
      })();

      const began = Date.now();
      /** What happened, for the one line the test prints. */
      let summary = '';
      const writing = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      try {
        // Load first: at least 1.5 s and a few hundred acknowledgements, some of every kind.
        const ackedOf = (keyed: Map<string, Keyed>) => [...keyed.values()].filter((e) => e.answer).length;
        const ackedCount = () => puts.length + ackedOf(orders) + ackedOf(increments);
        await until(
          () =>
            Date.now() - began > 1_500 &&
            ackedCount() > 300 &&
            ackedOf(orders) > 0 &&
            ackedOf(increments) > 0,
          10_000,
        );
        const followedBefore = followed.length;
        const killed = await crash(pg);
        const ackedAtCrash = ackedCount();
        const crashedAt = Date.now();
        expect([puts.length, ackedOf(orders), ackedOf(increments)].every((n) => n > 0)).toBe(true);
        // Without a shutdown checkpoint PostgreSQL leaves its lock file behind.
        expect(existsSync(join(pg.dataDir, 'postmaster.pid'))).toBe(true);
        // The whole cluster: its background processes and the servers' connections.
        for (const role of ['checkpointer', 'walwriter', 'truce 127.0.0.1'])
          expect(
            killed.some((t) => t.includes(role)),
            `${role} in ${killed.join(', ')}`,
          ).toBe(true);

        // The writers meet a database that is gone for a while, then it starts again.
        await sleep(1_000);
        const logBefore = readFileSync(pg.logFile, 'utf8').length;
        const restarting = Date.now();
        await pg.restart();
        restarted = true;
        const recoveryMs = Date.now() - restarting;
        const log = readFileSync(pg.logFile, 'utf8').slice(logBefore);
        expect(log).toMatch(/not properly shut down; automatic recovery in progress/);

        // Both processes take writes again by themselves (their pools open new connections).
        const back = await until(() => ackedAfter.every((n) => n >= 20), 15_000, 50);
        const backMs = Date.now() - restarting - recoveryMs;
        for (const p of procs) expect(p.child.exitCode, p.output()).toBeNull();
        expect(
          back,
          `acknowledged per process since the restart: ${ackedAfter.join(', ')}; outcomes ${JSON.stringify([...outcomes])}\n${procs.map((p) => p.output().slice(-2000)).join('\n')}`,
        ).toBe(true);
        for (const p of procs) expect((await send(`${p.url}/_health`, 'GET')).status).toBe(200);
        stop = true;
        await writing;
        followerStop = true;
        await follower;
        summary =
          `killed the postmaster and ${killed.length} children after ${crashedAt - began} ms of load; ` +
          `${ackedAtCrash} writes acknowledged before the crash, ${ackedCount() - ackedAtCrash} after; ` +
          `the follower had seen ${followedBefore} changes; restart with recovery ${recoveryMs} ms, ` +
          `both servers writing again ${backMs} ms later; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`;
      } finally {
        stop = true;
        followerStop = true;
      }
      await Promise.all([writing, follower]);
      expect(surprises).toEqual([]);

      // The whole feed after recovery.
      const feed: Change[] = [];
      for (let since = 0; ;) {
        const res = await send(`${at(0)}/_changes?since=${since}&limit=1000`, 'GET');
        expect(res.status).toBe(200);
        const page = (await res.json()) as { results: Change[]; last: number };
        if (page.results.length === 0) break;
        for (const c of page.results) {
          feed.push({ seq: c.seq, collection: c.collection, id: c.id, version: c.version, etag: c.etag });
        }
        since = page.last;
      }
      const seqs = feed.map((c) => c.seq);
      for (let i = 1; i < seqs.length; i++)
        expect(seqs[i]!, `feed position ${i}`).toBeGreaterThan(seqs[i - 1]!);
      const changeKey = (collection: string, id: string, version: number) => `${collection}/${id}@${version}`;
      const byKey = new Map<string, Change>();
      const duplicates: string[] = [];
      for (const c of feed) {
        const key = changeKey(c.collection, c.id, c.version);
        if (byKey.has(key)) duplicates.push(key);
        byKey.set(key, c);
      }
      expect(duplicates).toEqual([]);

      // What the follower saw is exactly the start of the feed: nothing lost, renumbered or inserted.
      expect(followed.length).toBeGreaterThan(0);
      const lastFollowed = followed[followed.length - 1]!.seq;
      expect(feed.filter((c) => c.seq <= lastFollowed)).toStrictEqual(followed);

      // Every acknowledged PUT: its version is there with its body, the document is at least there,
      // and the feed lists it once.
      const missing: string[] = [];
      const latest = new Map<string, number>();
      for (const ack of puts) latest.set(ack.id, Math.max(latest.get(ack.id) ?? 0, ack.version));
      await inParallel(puts, 8, async (ack) => {
        const res = await send(`${at(ack.version)}/docs/${ack.id}/_versions/${ack.version}`, 'GET');
        const doc = (await res.json()) as { n?: number };
        if (res.status !== 200 || res.headers.get('etag') !== ack.etag || doc.n !== ack.n)
          missing.push(`docs/${ack.id} v${ack.version}: ${res.status} ${JSON.stringify(doc)}`);
        if (byKey.get(changeKey('docs', ack.id, ack.version))?.etag !== ack.etag)
          missing.push(`docs/${ack.id} v${ack.version} not in the feed`);
      });
      await inParallel([...latest], 8, async ([id, version]) => {
        const doc = (await (await send(`${at(0)}/docs/${id}`, 'GET')).json()) as { _version?: number };
        if (!((doc._version ?? 0) >= version))
          missing.push(`docs/${id} at ${doc._version}, acknowledged ${version}`);
      });

      // Every acknowledged keyed create is there and in the feed; every key sent, resent, replays
      // the acknowledged answer, or applies once if it never did.
      const ackedOrders = [...orders].filter(([, e]) => e.answer);
      await inParallel(ackedOrders, 8, async ([key, { answer }]) => {
        const res = await send(`${at(0)}${answer!.location}`, 'GET');
        await res.arrayBuffer();
        const id = answer!.location!.split('/').pop()!;
        if (res.status !== 200) missing.push(`order ${key} (${answer!.location}): ${res.status}`);
        if (byKey.get(changeKey('orders', id, 1))?.etag !== answer!.etag)
          missing.push(`order ${key} not in the feed`);
      });
      expect(missing).toEqual([]);
      // A create reads before it writes, so it claims its key in a transaction of its own: a key
      // claimed before the crash whose create never committed (answered 503) is given back by its
      // server once PostgreSQL answers again, well before the claim would lapse (30 s); until then a
      // retry is told it is in flight, with Retry-After. A blind increment claims in the very
      // transaction of its write, so none of its keys can be left in flight.
      const wrongReplays: string[] = [];
      const stillClaimed: string[] = [];
      const neverFreed: string[] = [];
      const resend = async (key: string, entry: Keyed, res: Response, ok: number, mayLinger: boolean) => {
        const replayed = res.headers.get('idempotent-replayed');
        const again = await answerOf(res);
        if (
          mayLinger &&
          again.status === 409 &&
          !entry.answer &&
          again.body.includes('"idempotency-in-flight"')
        ) {
          if (!res.headers.get('retry-after')) wrongReplays.push(`${key}: in flight without Retry-After`);
          stillClaimed.push(`${key} (first sent: ${entry.failure ?? 'no answer'})`);
          return false;
        }
        if (again.status !== ok) wrongReplays.push(`${key}: ${again.status} ${again.body}`);
        else if (
          entry.answer &&
          (replayed !== 'true' || JSON.stringify(again) !== JSON.stringify(entry.answer))
        )
          wrongReplays.push(
            `${key}: ${JSON.stringify(again)} replayed=${replayed}, acknowledged ${JSON.stringify(entry.answer)}`,
          );
        return true;
      };
      let ordersApplied = 0;
      await inParallel([...orders], 8, async ([key, entry]) => {
        const post = () => send(`${entry.url}/orders`, 'POST', entry.body, { 'idempotency-key': key });
        let applied = await resend(key, entry, await post(), 201, true);
        // Given back within seconds of the restart, not when the claim lapses.
        for (const stop = Date.now() + 12_000; !applied && Date.now() < stop;) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          applied = await resend(key, entry, await post(), 201, true);
        }
        if (applied) ordersApplied++;
        else {
          neverFreed.push(key);
          // Its claim is in flight, so nothing it did may have committed.
          const { w, n } = entry.body as { w: number; n: number };
          const found = (await (await send(`${at(0)}/orders?w=${w}&n=${n}`, 'GET')).json()) as {
            items: unknown[];
          };
          if (found.items.length !== 0) wrongReplays.push(`${key}: in flight, yet its order exists`);
        }
      });
      expect(wrongReplays).toEqual([]);
      // Retried for 12 s after the restart: every key a failed create claimed was given back.
      expect(neverFreed).toEqual([]);
      const { w, n } = ackedOrders[0]![1].body as { w: number; n: number };
      const sample = (await (await send(`${at(0)}/orders?w=${w}&n=${n}`, 'GET')).json()) as {
        items: unknown[];
      };
      expect(sample.items).toHaveLength(1);
      let listed = 0;
      for (let cursor: string | null = null; ;) {
        const res = await send(
          `${at(1)}/orders?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          'GET',
        );
        const page = (await res.json()) as { items: unknown[]; next: string | null };
        listed += page.items.length;
        if (!page.next) break;
        cursor = page.next;
      }
      expect(listed, 'one order per key sent and answered').toBe(ordersApplied);

      // The counter: at least every acknowledged increment, each acknowledged version there and in
      // the feed; after every key is resent, exactly one increment per key.
      const ackedIncrements = [...increments.values()].filter((e) => e.answer).map((e) => e.answer!);
      const counter = (await (await send(`${at(0)}/counters/hits`, 'GET')).json()) as { n: number };
      expect(counter.n).toBeGreaterThanOrEqual(ackedIncrements.length);
      await inParallel(ackedIncrements, 8, async (answer) => {
        const { _version: version, n } = JSON.parse(answer.body) as { _version: number; n: number };
        const res = await send(`${at(version)}/counters/hits/_versions/${version}`, 'GET');
        const past = (await res.json()) as { n?: number };
        if (res.status !== 200 || res.headers.get('etag') !== answer.etag || past.n !== n)
          missing.push(`counters/hits v${version}: ${res.status} ${JSON.stringify(past)}`);
        if (byKey.get(changeKey('counters', 'hits', version))?.etag !== answer.etag)
          missing.push(`counters/hits v${version} not in the feed`);
      });
      let incrementsApplied = 0;
      await inParallel([...increments], 8, async ([key, entry]) => {
        const res = await send(
          `${entry.url}/counters/hits/_increment`,
          'POST',
          { pointer: '/n', by: 1 },
          { 'idempotency-key': key },
        );
        if (await resend(key, entry, res, 200, false)) incrementsApplied++;
      });
      expect(missing).toEqual([]);
      expect(wrongReplays).toEqual([]);
      const final = (await (await send(`${at(1)}/counters/hits`, 'GET')).json()) as {
        n: number;
        _version: number;
      };
      // Exactly one increment per key.
      expect(incrementsApplied).toBe(increments.size);
      expect(final).toMatchObject({ n: increments.size, _version: increments.size + 1 });
      console.info(
        `[postgres-crash] ${summary}; keys found in flight after the restart, then given back: ${[...new Set(stillClaimed)].join(', ') || 'none'}`,
      );
    },
    90_000,
  );
});
