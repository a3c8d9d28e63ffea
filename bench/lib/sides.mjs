// The sides of a scenario: the servers it compares, each in its own child process, started and
// seeded the same way. B1 and B2 compare the bare baseline with Truce; a scenario may name other
// variants (U1 adds a Truce reference without unique constraints; M1 and I1 run Truce on both sides).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './child.mjs';
import { makeResources, seed } from './resources.mjs';

const SERVERS = {
  baseline: fileURLToPath(new URL('../servers/baseline.mjs', import.meta.url)),
  truce: fileURLToPath(new URL('../servers/truce.mjs', import.meta.url)),
};

/**
 * B1's and B2's sides. `variant` names the routes (baseline) or the collections (Truce) the
 * server starts with; see servers/.
 * @type {Record<string, import('../scenarios/scenario.mjs').Side>}
 */
const DEFAULT_SIDES = {
  baseline: { server: 'baseline', variant: 'things' },
  truce: { server: 'truce', variant: 'things' },
};

/** The scenario's sides, in the order they are started and, round by round, measured. */
export function sidesOf(scenario) {
  return scenario.sides ?? DEFAULT_SIDES;
}

/**
 * Starts one side's server and seeds the scenario's resources on it. A Truce server gets a fresh
 * temporary folder for its database, and runs with `--cpu-prof` when asked.
 */
export async function startSide(scenario, name, settings, tempDirs) {
  const { server: kind, variant } = sidesOf(scenario)[name];
  const dataDir = kind === 'truce' ? mkdtempSync(join(tmpdir(), 'truce-bench-')) : undefined;
  if (dataDir) tempDirs.add(dataDir);
  const profile = kind === 'truce' && settings.cpuProfDir !== undefined;
  const server = await startServer({
    label: `${scenario.id} ${name}`,
    script: SERVERS[kind],
    args: dataDir ? [dataDir, variant] : [variant],
    nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfDir}`] : [],
  });
  const resources = makeResources(scenario.resources);
  const state = { name, server, dataDir, resources, dirty: false };
  await seed(server.url, resources);
  return state;
}

/** Stops the server and removes its database folder. */
export async function stopSide(state, tempDirs) {
  await state.server.stop();
  if (state.dataDir) {
    rmSync(state.dataDir, { recursive: true, force: true });
    tempDirs.delete(state.dataDir);
  }
}

/** ABBA order: forwards in even rounds, backwards in odd ones, so slow drift favours no side. */
export function roundOrder(names, round) {
  return round % 2 === 0 ? names : [...names].reverse();
}
