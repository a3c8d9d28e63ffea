import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

/** The most V8's young generation (both semi-spaces) may take in a Truce process, in MiB. */
export const YOUNG_GENERATION_MB = 16;

/** Set once the young generation is bounded in this process (a V8 flag is process-wide). */
let observer: PerformanceObserver | undefined;

/**
 * Holds V8's young generation at `megabytes` (both semi-spaces; a power of two) in this
 * process, for good: SPEC 7 B5 bounds a server's and a gateway's resident memory.
 *
 * Under steady traffic V8 doubles the semi-spaces up to 16 MiB each on 64-bit, 32 MiB resident for
 * objects that live for one request, and gives them back only after some 30 s of idleness. 8 MiB
 * each cost no measurable CPU per call in B1 or B5; in one set of runs of the gateway, 4 MiB each
 * cost about 10% more, 2 MiB a third more.
 *
 * V8 fixes the ceiling (`--max-semi-space-size`) when the process starts, which a command cannot do
 * for itself, but it reads the growth factor each time it grows the space: so after collections
 * this turns growth off (factor 1) once the young generation has reached the bound and back on
 * (V8's factor 2) while it is below, for instance after V8 shrank it when idle. It steps in powers of
 * two from 2 MiB, so a power of two is met exactly. The check runs between turns of the event loop:
 * one synchronous turn that allocates the young generation's size twice over can still grow it
 * past, until V8 shrinks it when idle. A worker thread's start sets the factor back to 2 for the
 * whole process (V8 does so for every new isolate); it is set again as soon as the worker is
 * online, but collections during the few milliseconds the worker takes to start can still double
 * the space once (the server's checkpointer starts one worker, once).
 *
 * Does nothing when the process was started with `--max-semi-space-size` (in its arguments or
 * `NODE_OPTIONS`: the operator chose), or when called again. Returns whether it bounds the space.
 */
export function boundYoungGeneration(megabytes = YOUNG_GENERATION_MB): boolean {
  if (observer !== undefined || semiSpaceSetAtStart()) return false;
  const bytes = megabytes * 1048576;
  const check = (): void => {
    setFlagsFromString(`--semi-space-growth-factor=${youngGenerationBytes() < bytes ? 2 : 1}`);
  };
  check();
  // One callback per batch of collections, after they ran: V8 only grows the space during one.
  observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ['gc'] });
  // Each new isolate (a worker thread's) sets the process-wide factor back to V8's 2 when its heap
  // is set up, before the worker comes online: set it again then, before the main thread's next
  // collections can grow its young generation.
  process.on('worker', (worker: Worker) => worker.once('online', check));
  return true;
}

/** The young generation's committed size (both semi-spaces), in bytes. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}

const SEMI_SPACE_FLAG = /--max[-_]semi[-_]space[-_]size/;

/** Whether the process was started with `--max-semi-space-size`, in its arguments or `NODE_OPTIONS`. */
export function semiSpaceSetAtStart(): boolean {
  return (
    process.execArgv.some((arg) => SEMI_SPACE_FLAG.test(arg)) ||
    SEMI_SPACE_FLAG.test(process.env.NODE_OPTIONS ?? '')
  );
}
