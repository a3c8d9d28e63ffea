// B3 (SPEC 7): 64 SDK clients x 50 increments of one counter, through the SDK's read-modify-write
// loop (`update`) and through `_increment` (`increment`). Both sides run the real @truce/client
// (its built dist) against their own Truce server with the `products` collection; each client is a
// createClient of its own, and each makes its 50 increments one after the other, all 64 at once.
//
// - `baseline`, update: `api.update('products', id, (p) => { p.stock += 1 })`, with the SDK's
//   defaults (If-Match; on a conflict, the current version from the refusal, jittered backoff from
//   50 ms doubling to 1 s, the mutator run again) except that it never gives up (the default 5
//   rounds would fail some increments under 64-way contention, and then the final value could not
//   be checked).
// - `truce`, _increment: `api.increment('products', id, '/stock', 1)`: one request, applied
//   atomically by the server.
// - `node`, _increment as `truce`, with the SDK's `fetch` option given @truce/client-node's
//   nodeFetch() instead of Node's built-in fetch: the same SDK code over a cheaper transport, for
//   issue 10 item 23's comparison with B1 (the load generator shares the CPUs with the server, and
//   Node's fetch costs about twice the CPU per request). Not part of B3's own target.
//
// A round creates a fresh counter at 0 and runs the 64 clients; it must end at exactly 3,200 with
// every call fulfilled. Goodput is increments landed per second; a commit's latency runs from the
// call to its result (conflict rounds and waits included). Rounds per commit are the writes the SDK
// sent per increment landed; requests per commit count every HTTP request, reads included.
import { performance } from 'node:perf_hooks';
import { createClient } from '@truce/client';
import { nodeFetch } from '@truce/client-node';
import { roundOrder, sidesOf, startSide, stopSide } from '../lib/sides.mjs';

const CLIENTS = 64;
const INCREMENTS = 50;
const WARMUP_INCREMENTS = 5;
/** A B B A at least, however fast a side is; at most this many per side. */
const MIN_ROUNDS = 2;
const MAX_ROUNDS = 50;

/** @type {import('./scenario.mjs').Scenario & { measure: Function }} */
export const b3 = {
  id: 'B3',
  title: `${CLIENTS} SDK clients x ${INCREMENTS} increments of one counter: update (read-modify-write) vs _increment, SQLite`,
  kind: 'sdk',
  rate: 'commitsPerSec',
  extraBudgetSec: 300,
  connections: CLIENTS,
  resources: 0,
  sides: {
    baseline: { server: 'truce', variant: 'products', label: 'update' },
    truce: { server: 'truce', variant: 'products', label: '_increment' },
    node: { server: 'truce', variant: 'products', label: '_increment over @truce/client-node' },
  },
  target: { minRatio: 5 },
  // update meets 412 stale-write on every conflict; GETs (the first read, the collection's schema) are 200.
  expectedStatus: { baseline: [200, 412], truce: 200, node: 200 },
  measure: measureSdkCounters,
};

/** One nodeFetch() for the run, its connections kept from round to round as Node's fetch keeps its own. */
let sharedNodeFetch;
const nodeTransport = () => (sharedNodeFetch ??= nodeFetch());

/** One round on one side: a fresh counter, 64 clients x `increments`, and the final value. */
async function oneRound(side, url, round, increments) {
  const id = `b3-${side}-${String(round).padStart(4, '0')}`;
  const created = await globalThis.fetch(`${url}/products/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', 'if-none-match': '*' },
    body: JSON.stringify({ name: 'counter', stock: 0 }),
  });
  await created.arrayBuffer();
  if (created.status !== 201) throw new Error(`creating ${id} answered ${created.status}`);

  const tally = {
    requests: 0,
    writes: 0,
    commits: 0,
    errors: 0,
    statusCounts: {},
    latencies: [],
    problems: [],
  };
  const transport = side === 'node' ? nodeTransport() : globalThis.fetch;
  const counting = async (input, init) => {
    tally.requests += 1;
    try {
      const response = await transport(input, init);
      tally.statusCounts[response.status] = (tally.statusCounts[response.status] ?? 0) + 1;
      return response;
    } catch (error) {
      tally.errors += 1;
      throw error;
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, i) =>
    createClient({
      baseUrl: url,
      headers: { 'truce-actor': `client-${i}` },
      fetch: counting,
      conflicts: { rounds: Number.MAX_SAFE_INTEGER },
    }),
  );
  const one = async (api) => {
    if (side !== 'baseline') {
      await api.increment('products', id, '/stock', 1);
      return 1;
    }
    const result = await api.update('products', id, (p) => {
      p.stock += 1;
    });
    return result.rounds;
  };
  const started = performance.now();
  await Promise.all(
    clients.map(async (api, c) => {
      for (let n = 0; n < increments; n++) {
        const t = performance.now();
        try {
          const writes = await one(api);
          tally.writes += writes;
          tally.commits += 1;
          tally.latencies.push(performance.now() - t);
        } catch (error) {
          tally.problems.push(
            `client ${c}, increment ${n + 1}: ${error instanceof Error ? error.message : error}`,
          );
          return;
        }
      }
    }),
  );
  const durationSec = (performance.now() - started) / 1000;
  const final = await (await globalThis.fetch(`${url}/products/${id}`)).json();
  const expected = CLIENTS * increments;
  const problems = tally.problems.slice(0, 3);
  if (final.stock !== expected) problems.push(`final stock ${final.stock}, not ${expected}`);
  if (final._version !== expected + 1) problems.push(`_version ${final._version}, not ${expected + 1}`);
  return { ...tally, durationSec, problems, final: final.stock };
}

/**
 * The measure of this scenario (run.mjs calls it instead of a shared one): warm-up rounds, then
 * rounds alternating between the sides (ABBA) until each side has BENCH_DURATION seconds.
 */
async function measureSdkCounters(scenario, settings, tempDirs, progress) {
  const names = Object.keys(sidesOf(scenario));
  const sides = {};
  const counters = Object.fromEntries(names.map((n) => [n, 0]));
  const problems = Object.fromEntries(names.map((n) => [n, []]));
  const run = async (name, label, increments) => {
    const round = counters[name]++;
    const outcome = await oneRound(name, sides[name].server.url, round, increments);
    for (const p of outcome.problems) problems[name].push(`${label} ${round}: ${p}`);
    return outcome;
  };
  try {
    for (const name of names) sides[name] = await startSide(scenario, name, settings, tempDirs);
    for (const name of names) {
      if (settings.warmupSec === 0) continue;
      progress(`B3 ${name}: warm-up ${settings.warmupSec} s of short rounds`);
      const until = performance.now() + settings.warmupSec * 1000;
      do await run(name, 'warm-up round', WARMUP_INCREMENTS);
      while (performance.now() < until);
    }
    const measured = Object.fromEntries(names.map((n) => [n, []]));
    const seconds = (n) => measured[n].reduce((s, r) => s + r.durationSec, 0);
    // Each side until it has BENCH_DURATION seconds of rounds (at least MIN_ROUNDS): the update side
    // takes tens of seconds a round, _increment a second or two, and a side measured for only two
    // short rounds would rest on whatever else the machine was doing in those seconds. A side that
    // has its time sits out while the other goes on.
    const done = (n) =>
      measured[n].length >= MAX_ROUNDS ||
      (measured[n].length >= MIN_ROUNDS && seconds(n) >= settings.durationSec);
    for (let round = 0; !names.every(done); round++) {
      for (const name of roundOrder(names, round)) {
        if (!done(name)) measured[name].push(await run(name, 'round', INCREMENTS));
      }
    }
    const result = {};
    for (const name of names) {
      result[name] = summarise(sidesOf(scenario)[name].label, measured[name], problems[name]);
      const r = result[name];
      progress(
        `B3 ${r.label}: ${r.commitsPerSec} increments/s over ${r.rounds.length} rounds of ${CLIENTS * INCREMENTS} ` +
          `(median round ${r.medianRoundPerSec}/s), ` +
          `${r.roundsPerCommit} writes and ${r.requestsPerCommit} requests per increment, ` +
          `p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, final values ${r.finals.join(', ')}, ` +
          `statuses ${JSON.stringify(r.statusCounts)}, ${r.problems.length === 0 ? 'every round exact' : `${r.problems.length} problems`}`,
      );
    }
    return result;
  } finally {
    sharedNodeFetch?.close();
    sharedNodeFetch = undefined;
    for (const name of names) if (sides[name]) await stopSide(sides[name], tempDirs);
  }
}

function summarise(label, rounds, problems) {
  const sum = (key) => rounds.reduce((t, r) => t + r[key], 0);
  const durationSec = sum('durationSec');
  const commits = sum('commits');
  const statusCounts = {};
  for (const r of rounds)
    for (const [k, v] of Object.entries(r.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v;
  const perRound = rounds.map((r) => r.commits / r.durationSec).sort((a, b) => a - b);
  return {
    label,
    commitsPerSec: Math.round(commits / durationSec),
    // A round is short (3,200 increments: a second or two on the _increment side), so one slow
    // round from other work on the machine weighs on the total; the median round says less about it.
    medianRoundPerSec: Math.round(perRound[Math.floor(perRound.length / 2)] ?? 0),
    requestsPerSec: Math.round(sum('requests') / durationSec),
    commits,
    requests: sum('requests'),
    roundsPerCommit: Number((sum('writes') / commits).toFixed(2)),
    requestsPerCommit: Number((sum('requests') / commits).toFixed(2)),
    durationSec: Number(durationSec.toFixed(2)),
    rounds: rounds.map((r) => ({
      commitsPerSec: Math.round(r.commits / r.durationSec),
      durationSec: Number(r.durationSec.toFixed(3)),
      writes: r.writes,
      requests: r.requests,
    })),
    finals: rounds.map((r) => r.final),
    latencyMs: percentiles(rounds.flatMap((r) => r.latencies)),
    statusCounts,
    errors: sum('errors'),
    timeouts: 0,
    problems,
  };
}

function percentiles(values) {
  if (values.length === 0) return { mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  const tenth = (ms) => Number(ms.toFixed(1));
  return {
    mean: tenth(values.reduce((a, b) => a + b, 0) / values.length),
    p50: tenth(at(50)),
    p90: tenth(at(90)),
    p99: tenth(at(99)),
    max: tenth(sorted.at(-1)),
  };
}
