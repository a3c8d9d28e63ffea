import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, ROOT } from './helpers.js';

/*
 * `boundYoungGeneration()` of @truce/runtime holds V8's young generation at 16 MiB in the processes
 * of `truce serve` and `truce gateway` (SPEC 7 B5). V8 flags are process-wide, so each case runs in
 * a node process of its own: a workload that keeps a few MB alive across scavenges, as a loaded
 * proxy does, a few hundred KB per turn of the event loop (a proxied call's worth); the process
 * reports the largest young generation it saw. (The bound is checked after collections, between
 * turns: one synchronous turn that allocates more than the young generation holds, twice over, can
 * still grow it past.)
 */

const HEAP = pathToFileURL(join(ROOT, 'packages/runtime/dist/index.js')).href;
const MB = 1048576;

const WORKLOAD = `
const { boundYoungGeneration, youngGenerationBytes } = await import(${JSON.stringify(HEAP)});
const bounded = process.env.BOUND === '1' ? boundYoungGeneration() : false;
const ring = new Array(60000);
let at = 0;
let largest = 0;
for (let turn = 0; turn < 1500; turn++) {
  // Midway a worker thread starts, as the server's checkpointer does. The turns wait until it is
  // online: collections while it starts up can still grow the space once (see heap.ts).
  if (turn === 700 && process.env.WORKER === '1') {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker('setTimeout(() => {}, 500)', { eval: true });
    await new Promise((resolve) => worker.once('online', resolve));
    worker.unref();
  }
  for (let i = 0; i < 2000; i++) ring[at++ % ring.length] = { n: i, s: 'call ' + i, tags: [i, i + 1] };
  largest = Math.max(largest, youngGenerationBytes());
  await new Promise((resolve) => setImmediate(resolve));
}
process.stdout.write(JSON.stringify({ largest, bounded }));
`;

function run(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<{ largest: number; bounded: boolean }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeArgs, '--input-type=module', '-e', WORKLOAD],
      { env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as { largest: number; bounded: boolean });
      },
    );
  });
}

describe('boundYoungGeneration', () => {
  beforeAll(() => requireBuild());

  it('stays at 16 MiB under allocation that V8 alone answers with 32 MiB, and exits by itself', async () => {
    const [alone, bounded] = await Promise.all([run({ BOUND: '0' }), run({ BOUND: '1' })]);
    // Without the bound the workload does grow the young generation past it (the test can fail).
    expect(alone.largest).toBeGreaterThan(16 * MB);
    expect(bounded.bounded).toBe(true);
    expect(bounded.largest).toBeLessThanOrEqual(16 * MB);
    // It did not stop growth at V8's starting size either.
    expect(bounded.largest).toBeGreaterThanOrEqual(8 * MB);
  });

  it('stays bounded when a worker thread starts (V8 resets the growth factor for each new isolate)', async () => {
    const runs = await Promise.all([run({ BOUND: '1', WORKER: '1' }), run({ BOUND: '1', WORKER: '1' })]);
    for (const r of runs) expect(r.largest).toBeLessThanOrEqual(16 * MB);
  });

  it("is left to the operator's --max-semi-space-size, on the command line or in NODE_OPTIONS", async () => {
    const [argument, option] = await Promise.all([
      run({ BOUND: '1' }, ['--max-semi-space-size=32']),
      run({ BOUND: '1', NODE_OPTIONS: '--max-semi-space-size=32' }),
    ]);
    expect([argument.bounded, option.bounded]).toEqual([false, false]);
    expect(argument.largest).toBeGreaterThan(16 * MB);
    expect(option.largest).toBeGreaterThan(16 * MB);
  });
});
