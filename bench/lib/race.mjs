// Measuring a scenario in rounds (D1): each round sets up a fresh race on one side (the
// scenario's `prepare`), sends a fixed number of requests at once (`runBurst`), and checks what
// the race left behind (the scenario's `outcome`). Rounds alternate between the sides in ABBA
// order, as the timed slices do, and go on until the slowest side has been measured for
// BENCH_DURATION seconds, with at least BENCH_ROUNDS rounds per side: one round of a thousand
// requests lasts a fraction of a second, too short for a stable figure on its own. The CPU of each
// side's processes is read around its measured bursts only (lib/cpu.mjs), not their set-up and checks.
import { performance } from 'node:perf_hooks';
import { runBurst, summarise } from './load.mjs';
import { cpuMeterFor, loadTarget, roundOrder, sidesOf, startSide, stopSide } from './sides.mjs';

/** However fast a side is, the bench stops adding rounds here. */
const MAX_ROUNDS = 500;

/**
 * @param {import('../scenarios/scenario.mjs').Scenario} scenario
 * @param {{ durationSec: number, warmupSec: number, rounds: number, cpuProfDir?: string }} settings
 * @param {Set<string>} tempDirs folders to remove if the process exits early
 * @param {(message: string) => void} progress
 * @returns {Promise<Record<string, RoundsSummary>>} by side name
 *
 * @typedef {import('./load.mjs').LoadSummary & {
 *   rounds: { reqPerSec: number, succeeded: number, insufficient: number, finalStock: number }[],
 *   warmupRounds: number,
 *   problems: string[],
 * }} RoundsSummary `slices` are the measured rounds; `problems` lists every round, warm-up
 *   included, whose outcome was wrong
 */
export async function measureRounds(scenario, settings, tempDirs, progress) {
  const names = Object.keys(sidesOf(scenario));
  const sides = {};
  // Numbers the races on each server, warm-up included, so that no two share a resource.
  const counters = Object.fromEntries(names.map((name) => [name, 0]));
  let meter;
  const runRound = async (name, measured = false) => {
    const round = counters[name]++;
    const around = measured
      ? (burst) => meter.around(name, sides[name].server.pids, burst)
      : (burst) => burst();
    return { round, ...(await oneRound(scenario, sides[name].server, round, around)) };
  };
  const problems = Object.fromEntries(names.map((name) => [name, []]));
  const record = (name, label, outcome) => {
    for (const problem of outcome.problems) problems[name].push(`${label} ${outcome.round}: ${problem}`);
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
        record(name, 'warm-up round', await runRound(name));
        warmupRounds[name] += 1;
      } while (performance.now() < until);
    }

    progress(
      `${scenario.id}: measuring rounds, alternating, until the slowest side has ${settings.durationSec} s ` +
        `(at least ${settings.rounds} rounds per side)`,
    );
    const measured = Object.fromEntries(names.map((name) => [name, []]));
    const seconds = (name) => measured[name].reduce((sum, r) => sum + r.raw.duration, 0);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const enough = round >= settings.rounds && Math.max(...names.map(seconds)) >= settings.durationSec;
      if (enough) break;
      for (const name of roundOrder(names, round)) {
        const outcome = await runRound(name, true);
        record(name, 'round', outcome);
        measured[name].push(outcome);
      }
    }

    const result = {};
    for (const name of names) {
      const outcomes = measured[name];
      const summary = summarise(
        sides[name].server.url,
        outcomes.map((o) => o.raw),
      );
      result[name] = {
        ...summary,
        rounds: outcomes.map((o, i) => ({
          reqPerSec: summary.slices[i].reqPerSec,
          succeeded: o.succeeded,
          insufficient: o.insufficient,
          finalStock: o.finalStock,
        })),
        warmupRounds: warmupRounds[name],
        problems: problems[name],
        cpu: meter.summary(name, summary.requests),
      };
      const r = result[name];
      const perRound = r.slices.map((s) => s.reqPerSec).sort((a, b) => a - b);
      progress(
        `${scenario.id} ${name}: ${r.requestsPerSec} req/s over ${perRound.length} rounds ` +
          `(per round min ${perRound[0]}, median ${perRound[perRound.length >> 1]}, max ${perRound.at(-1)}), ` +
          `p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, statuses ${JSON.stringify(r.statusCounts)}, ` +
          `${r.problems.length === 0 ? 'every round exact' : `${r.problems.length} wrong outcomes`}`,
      );
    }
    return result;
  } finally {
    for (const name of names) if (sides[name]) await stopSide(sides[name], tempDirs);
  }
}

/**
 * One race: set up, burst, and the scenario's reading of what it left behind. The first server
 * sets up and checks; the burst goes to all of a side's servers (the processes of a PostgreSQL side).
 * `around` wraps the burst alone (the CPU meter, in measured rounds).
 */
async function oneRound(scenario, server, round, around) {
  const { url } = server;
  const target = await scenario.prepare(url, round);
  const raw = await around(() =>
    runBurst({
      url: loadTarget(server),
      connections: scenario.connections,
      amount: scenario.race.requests,
      requests: scenario.requests(target),
      ...scenario.load,
    }),
  );
  const statusCounts = {};
  for (const [code, stats] of Object.entries(raw.statusCodeStats ?? {})) statusCounts[code] = stats.count;
  const outcome = await scenario.outcome(url, target, statusCounts);
  if (raw.errors > 0 || raw.timeouts > 0) {
    outcome.problems.push(`${raw.errors} connection errors, ${raw.timeouts} timeouts`);
  }
  return { raw, ...outcome };
}
