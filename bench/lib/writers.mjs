// Measuring a scenario of sequential writers (M1): in each round, the scenario's `prepare` sets up
// a fresh target, then `writers.count` writers, each a loop on a connection of its own, make
// `writers.writes` writes each, one request at a time; the scenario's `attempt` and `settle` say
// what a writer sends and what an answer means (landed, retry, or a problem), and its `outcome`
// checks what the round left behind. On a side of several processes (PostgreSQL), writer w talks
// to process w mod n, so each process has the same number of writers. Rounds alternate between the
// sides in ABBA order, as the timed slices do, and go on until the slowest side has been measured
// for BENCH_DURATION seconds, with at least two rounds per side. A round of thousands of contended
// writes lasts many seconds, so BENCH_ROUNDS does not apply: five rounds per side would take
// minutes. Warm-up rounds are shorter (`writers.warmupWrites` each) and go on for BENCH_WARMUP
// seconds per side. The CPU of each side's processes is read around its measured rounds' writes
// only (lib/cpu.mjs), not their set-up and checks.
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { openClient } from './client.mjs';
import { sumByTarget } from './load.mjs';
import { cpuMeterFor, roundOrder, sidesOf, startSide, stopSide } from './sides.mjs';

/** However fast a side is, the bench stops adding rounds here. */
const MAX_ROUNDS = 200;
/** A B B A: the fewest rounds that alternate the sides both ways. */
const MIN_ROUNDS = 2;

/**
 * @param {import('../scenarios/scenario.mjs').Scenario} scenario
 * @param {{ durationSec: number, warmupSec: number, rounds: number, cpuProfDir?: string }} settings
 * @param {Set<string>} tempDirs folders to remove if the process exits early
 * @param {(message: string) => void} progress
 * @returns {Promise<Record<string, WritersSummary>>} by side name
 *
 * @typedef {object} WritersSummary
 * @property {string} label what the side does, as the scenario names it
 * @property {number} commitsPerSec writes landed over measured seconds, all rounds together
 * @property {number} requestsPerSec requests answered over measured seconds (retries included)
 * @property {number} commits writes landed
 * @property {number} requests requests sent, retries included
 * @property {number} conflicts requests answered 409 or 412
 * @property {number} conflictShare conflicts / requests
 * @property {number} durationSec measured seconds: each round from its first request to its last answer
 * @property {{ commitsPerSec: number, requests: number, conflicts: number, durationSec: number }[]} rounds
 * @property {{ mean: number, p50: number, p90: number, p99: number, max: number }} latencyMs
 *   of a write that landed, from its first attempt to the answer that landed it (retries included)
 * @property {Record<string, number>} statusCounts responses by status code
 * @property {number} errors connection errors and timeouts
 * @property {number} timeouts always 0: a timeout counts as an error
 * @property {number} warmupRounds
 * @property {string[]} problems every round, warm-up included, that went wrong, and how
 * @property {Record<string, number>} byTarget requests by server (`127.0.0.1:port`)
 * @property {import('./cpu.mjs').CpuSummary} [cpu] over the measured rounds' writes, per request
 */
export async function measureWriters(scenario, settings, tempDirs, progress) {
  const names = Object.keys(sidesOf(scenario));
  const sides = {};
  // Numbers the rounds on each server, warm-up included, so that no two share a resource.
  const counters = Object.fromEntries(names.map((name) => [name, 0]));
  const problems = Object.fromEntries(names.map((name) => [name, []]));
  let meter;
  const runRound = async (name, label, writes, measured = false) => {
    const round = counters[name]++;
    const around = measured ? (fn) => meter.around(name, sides[name].server.pids, fn) : (fn) => fn();
    const outcome = await oneRound(scenario, name, sides[name].server, round, writes, around);
    for (const problem of outcome.problems) problems[name].push(`${label} ${round}: ${problem}`);
    return outcome;
  };
  try {
    for (const name of names) sides[name] = await startSide(scenario, name, settings, tempDirs);
    meter = await cpuMeterFor(scenario);
    const warmupRounds = Object.fromEntries(names.map((name) => [name, 0]));
    for (const name of names) {
      if (settings.warmupSec === 0) continue;
      progress(`${scenario.id} ${name}: warm-up ${settings.warmupSec} s of rounds`);
      const until = performance.now() + settings.warmupSec * 1000;
      do {
        await runRound(name, 'warm-up round', scenario.writers.warmupWrites);
        warmupRounds[name] += 1;
      } while (performance.now() < until);
    }

    progress(
      `${scenario.id}: measuring rounds, alternating, until the slowest side has ${settings.durationSec} s ` +
        `(at least ${MIN_ROUNDS} rounds per side)`,
    );
    const measured = Object.fromEntries(names.map((name) => [name, []]));
    const seconds = (name) => measured[name].reduce((sum, r) => sum + r.durationSec, 0);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const enough = round >= MIN_ROUNDS && Math.max(...names.map(seconds)) >= settings.durationSec;
      if (enough) break;
      for (const name of roundOrder(names, round))
        measured[name].push(await runRound(name, 'round', scenario.writers.writes, true));
    }

    const result = {};
    for (const name of names) {
      result[name] = summarise(
        sidesOf(scenario)[name].label ?? name,
        measured[name],
        warmupRounds[name],
        problems[name],
      );
      const r = result[name];
      r.cpu = meter.summary(name, r.requests);
      progress(
        `${scenario.id} ${name} (${r.label}): ${r.commitsPerSec} commits/s over ${r.rounds.length} rounds ` +
          `(per round ${r.rounds.map((x) => x.commitsPerSec).join(', ')}), ${r.requests} requests, ` +
          `${percent(r.conflictShare)} conflicted, write p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ` +
          `statuses ${JSON.stringify(r.statusCounts)}, ` +
          `${r.problems.length === 0 ? 'every round exact' : `${r.problems.length} problems`}`,
      );
    }
    return result;
  } finally {
    for (const name of names) if (sides[name]) await stopSide(sides[name], tempDirs);
  }
}

/**
 * One round on one side: set up, every writer's loop at once, and the scenario's check. The first
 * server sets up and checks; the writers are spread over all of the side's servers. `around` wraps
 * the writers' loops alone (the CPU meter, in measured rounds).
 */
async function oneRound(scenario, side, server, round, writes, around) {
  const { url, urls } = server;
  const target = await scenario.prepare(url, round);
  const { count, maxAttempts } = scenario.writers;
  const tally = { requests: 0, commits: 0, errors: 0, statusCounts: {}, latencies: [], problems: [] };
  const targets = Array.from({ length: count }, (_, w) => new URL(urls[w % urls.length]).host);
  const byTarget = Object.fromEntries(targets.map((host) => [host, 0]));
  const clients = Array.from({ length: count }, (_, w) => openClient(urls[w % urls.length]));

  const writer = async (client, w) => {
    for (let n = 1; n <= writes; n++) {
      const started = performance.now();
      for (let attempt = 1; ; attempt++) {
        if (attempt > maxAttempts) {
          tally.problems.push(`writer ${w}, write ${n}: not landed after ${maxAttempts} attempts`);
          return;
        }
        const sent = scenario.attempt(side, target, w, n);
        const answer = await client.send(sent.method, sent.path, sent.headers, sent.body);
        tally.requests += 1;
        byTarget[targets[w]] += 1;
        tally.statusCounts[answer.status] = (tally.statusCounts[answer.status] ?? 0) + 1;
        if (answer.status === 0) tally.errors += 1;
        const verdict = scenario.settle(side, target, w, n, sent, answer);
        if (verdict.landed) {
          tally.commits += 1;
          tally.latencies.push(performance.now() - started);
          break;
        }
        if (verdict.retry) {
          // A 503's Retry-After, where the scenario honours it (the PostgreSQL variants).
          if (verdict.afterMs) await delay(verdict.afterMs);
          continue;
        }
        // A writer that cannot go on stops; the others finish the round.
        tally.problems.push(`writer ${w}: ${verdict.problem}`);
        return;
      }
    }
  };

  const started = performance.now();
  await around(() => Promise.all(clients.map((client, w) => writer(client, w))));
  const durationSec = (performance.now() - started) / 1000;
  for (const client of clients) client.close();
  // A status 0 is a connection error, counted apart from the statuses.
  delete tally.statusCounts[0];
  const problems = [...tally.problems.slice(0, 5), ...(await scenario.outcome(url, target, writes))];
  if (tally.problems.length > 5) problems.push(`and ${tally.problems.length - 5} more writer problems`);
  return { ...tally, durationSec, problems, byTarget };
}

function summarise(label, rounds, warmupRounds, problems) {
  const sum = (key) => rounds.reduce((total, r) => total + r[key], 0);
  const durationSec = sum('durationSec');
  const requests = sum('requests');
  const conflictsOf = (r) => (r.statusCounts[409] ?? 0) + (r.statusCounts[412] ?? 0);
  const conflicts = rounds.reduce((total, r) => total + conflictsOf(r), 0);
  const statusCounts = {};
  for (const r of rounds)
    for (const [code, n] of Object.entries(r.statusCounts))
      statusCounts[code] = (statusCounts[code] ?? 0) + n;
  return {
    label,
    commitsPerSec: Math.round(sum('commits') / durationSec),
    requestsPerSec: Math.round(requests / durationSec),
    commits: sum('commits'),
    requests,
    conflicts,
    conflictShare: requests > 0 ? Number((conflicts / requests).toFixed(4)) : 0,
    durationSec: Number(durationSec.toFixed(2)),
    rounds: rounds.map((r) => ({
      commitsPerSec: Math.round(r.commits / r.durationSec),
      requests: r.requests,
      conflicts: conflictsOf(r),
      durationSec: Number(r.durationSec.toFixed(3)),
    })),
    latencyMs: percentiles(rounds.flatMap((r) => r.latencies)),
    statusCounts,
    errors: sum('errors'),
    timeouts: 0,
    warmupRounds,
    problems,
    byTarget: sumByTarget(rounds),
  };
}

/** Exact percentiles (nearest rank) of the latencies, in milliseconds to a tenth. */
function percentiles(values) {
  if (values.length === 0) return { mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  const tenth = (ms) => Number(ms.toFixed(1));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return {
    mean: tenth(mean),
    p50: tenth(at(50)),
    p90: tenth(at(90)),
    p99: tenth(at(99)),
    max: tenth(sorted.at(-1)),
  };
}

function percent(share) {
  return `${(share * 100).toFixed(1)}%`;
}
