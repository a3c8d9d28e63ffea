// Measuring one scenario: the baseline and Truce each in their own server process, both started
// and seeded first, warmed up, then measured in alternating slices. Other work on the machine
// (builds, tests) comes and goes; alternating spreads it over both sides instead of letting it
// land on one, which would skew the ratio.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './child.mjs';
import { runSlice, summarise } from './load.mjs';
import { makeResources, refreshEtags, seed } from './resources.mjs';

const SERVERS = {
  baseline: fileURLToPath(new URL('../servers/baseline.mjs', import.meta.url)),
  truce: fileURLToPath(new URL('../servers/truce.mjs', import.meta.url)),
};
const SIDES = ['baseline', 'truce'];

/**
 * @param {import('../scenarios/scenario.mjs').Scenario} scenario
 * @param {{ durationSec: number, warmupSec: number, rounds: number, cpuProfDir?: string }} settings
 * @param {Set<string>} tempDirs folders to remove if the process exits early
 * @param {(message: string) => void} progress
 */
export async function measureScenario(scenario, settings, tempDirs, progress) {
  const sides = {};
  try {
    for (const side of SIDES) sides[side] = await startSide(scenario, side, settings, tempDirs);
    for (const side of SIDES) {
      if (settings.warmupSec === 0) continue;
      progress(`${scenario.id} ${side}: warm-up ${settings.warmupSec} s`);
      await slice(scenario, sides[side], settings.warmupSec);
    }
    // autocannon stops on a whole second, so slices are whole seconds.
    const rounds = Math.min(settings.rounds, settings.durationSec);
    const sliceSec = Math.round(settings.durationSec / rounds);
    progress(`${scenario.id}: measuring ${rounds} x ${sliceSec} s per side, alternating`);
    const raw = { baseline: [], truce: [] };
    for (let round = 0; round < rounds; round++) {
      // ABBA order, so that a slow drift over the run does not favour either side.
      for (const side of round % 2 === 0 ? SIDES : [...SIDES].reverse()) {
        raw[side].push(await slice(scenario, sides[side], sliceSec));
      }
    }
    const result = {};
    for (const side of SIDES) {
      result[side] = summarise(sides[side].server.url, raw[side]);
      const r = result[side];
      progress(
        `${scenario.id} ${side}: ${r.requestsPerSec} req/s (slices ${r.slices.map((s) => s.reqPerSec).join(', ')}), ` +
          `p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, statuses ${JSON.stringify(r.statusCounts)}`,
      );
    }
    return result;
  } finally {
    for (const side of SIDES) if (sides[side]) await stopSide(sides[side], tempDirs);
  }
}

async function startSide(scenario, side, settings, tempDirs) {
  const dataDir = side === 'truce' ? mkdtempSync(join(tmpdir(), 'truce-bench-')) : undefined;
  if (dataDir) tempDirs.add(dataDir);
  const profile = side === 'truce' && settings.cpuProfDir !== undefined;
  const server = await startServer({
    label: `${scenario.id} ${side}`,
    script: SERVERS[side],
    args: dataDir ? [dataDir] : [],
    nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfDir}`] : [],
  });
  const resources = makeResources(scenario.resources);
  const state = { server, dataDir, resources, dirty: false };
  await seed(server.url, resources);
  return state;
}

/** One load slice; the ETags are re-read first when the previous slice may have left them behind. */
async function slice(scenario, state, durationSec) {
  if (state.dirty) await refreshEtags(state.server.url, state.resources);
  state.dirty = true;
  return runSlice({
    url: state.server.url,
    connections: scenario.connections,
    durationSec,
    requests: scenario.requests(state.resources),
    ...scenario.load,
  });
}

async function stopSide(state, tempDirs) {
  await state.server.stop();
  if (state.dataDir) {
    rmSync(state.dataDir, { recursive: true, force: true });
    tempDirs.delete(state.dataDir);
  }
}
