// Measuring a timed scenario (B1, B2, U1, I1): every side in its own server process, all started and
// seeded first, warmed up, then measured in alternating slices of whole seconds. Other work on
// the machine (builds, tests) comes and goes; alternating spreads it over every side instead of
// letting it land on one, which would skew the ratio. The CPU of each side's processes is read
// around its measured slices only (lib/cpu.mjs).
import { runSlice, summarise } from './load.mjs';
import { refreshEtags } from './resources.mjs';
import { cpuMeterFor, loadTarget, roundOrder, sidesOf, startSide, stopSide } from './sides.mjs';

/**
 * @param {import('../scenarios/scenario.mjs').Scenario} scenario
 * @param {{ durationSec: number, warmupSec: number, rounds: number, cpuProfDir?: string }} settings
 * @param {Set<string>} tempDirs folders to remove if the process exits early
 * @param {(message: string) => void} progress
 * @returns {Promise<Record<string, import('./load.mjs').LoadSummary & { cpu?: import('./cpu.mjs').CpuSummary }>>}
 *   by side name
 */
export async function measureScenario(scenario, settings, tempDirs, progress) {
  const names = Object.keys(sidesOf(scenario));
  const sides = {};
  try {
    for (const name of names) sides[name] = await startSide(scenario, name, settings, tempDirs);
    const meter = await cpuMeterFor(scenario);
    for (const name of names) {
      if (settings.warmupSec === 0) continue;
      progress(`${scenario.id} ${name}: warm-up ${settings.warmupSec} s`);
      await slice(scenario, sides[name], settings.warmupSec);
    }
    // autocannon stops on a whole second, so slices are whole seconds.
    const rounds = Math.min(settings.rounds, settings.durationSec);
    const sliceSec = Math.round(settings.durationSec / rounds);
    progress(`${scenario.id}: measuring ${rounds} x ${sliceSec} s per side, alternating`);
    const raw = Object.fromEntries(names.map((name) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const name of roundOrder(names, round))
        raw[name].push(await slice(scenario, sides[name], sliceSec, meter));
    }
    const result = {};
    for (const name of names) {
      const { label } = sidesOf(scenario)[name];
      result[name] = { ...(label && { label }), ...summarise(sides[name].server.url, raw[name]) };
      const r = result[name];
      r.cpu = meter.summary(name, r.requests);
      // What the load left behind, where the scenario checks it (I1's replays); any problem
      // makes the row invalid.
      const checked = await scenario.verify?.(sides[name]);
      if (checked) Object.assign(r, { checks: checked.checks, problems: checked.problems });
      progress(
        `${scenario.id} ${name}: ${r.requestsPerSec} req/s (slices ${r.slices.map((s) => s.reqPerSec).join(', ')}), ` +
          `p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, statuses ${JSON.stringify(r.statusCounts)}` +
          (r.problems === undefined
            ? ''
            : `, ${r.problems.length === 0 ? 'checks passed' : `${r.problems.length} problems`}`),
      );
    }
    return result;
  } finally {
    for (const name of names) if (sides[name]) await stopSide(sides[name], tempDirs);
  }
}

/**
 * One load slice; the ETags are re-read first when the previous slice may have left them behind.
 * A measured slice's CPU goes to its side on `meter` (the re-read does not count).
 */
async function slice(scenario, state, durationSec, meter) {
  if (state.dirty) await refreshEtags(state.server.url, state.resources);
  state.dirty = true;
  const load = () =>
    runSlice({
      url: loadTarget(state.server),
      connections: scenario.connections,
      durationSec,
      requests: scenario.requests(state.resources, state),
      ...scenario.load,
    });
  return meter ? meter.around(state.name, state.server.pids, load) : load();
}
