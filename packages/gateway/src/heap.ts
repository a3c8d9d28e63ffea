import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** How far V8 lets the old generation grow past its live size between full collections. */
export const GATEWAY_HEAP_GROWING_PERCENT = 25;

/** The most V8's young generation (both semi-spaces) may take in a gateway process, in MiB. */
export const GATEWAY_YOUNG_GENERATION_MB = 16;

/** Set once the young generation is bounded in this process (a V8 flag is process-wide). */
let youngObserver: PerformanceObserver | undefined;

/**
 * Keeps a gateway process's heap close to what it holds live (SPEC 7 B5: RSS <= 150 MB after a
 * million logged calls). Two bounds:
 *
 * - **The old generation.** By default V8 lets it grow to up to four times its live size before a
 *   full collection; a gateway holds little (some 20-30 MB) but promotes steadily (call records
 *   waiting for their batch, keep-alive sockets' state), so its resident memory swung between about
 *   135 and 220 MB with the phase of that cycle. At 25% growth the full collections come more
 *   often, each short since the live heap is small. V8 reads this flag at every collection.
 * - **The young generation.** Under steady traffic V8 doubles the semi-spaces up to 16 MiB each on
 *   64-bit, 32 MiB resident for objects that live for one request, and gives them back only after
 *   some 30 s of idleness. 8 MiB each cost no measurable CPU per proxied call here (B5); in one set
 *   of runs 4 MiB each cost about 10% more, 2 MiB a third more. V8 fixes the ceiling
 *   (`--max-semi-space-size`) when the process starts, which a command cannot do for itself, but
 *   it reads the growth factor each time it grows the space: so after collections this turns
 *   growth off (factor 1) once the young generation has reached `youngGenerationMb` and back on
 *   (V8's factor 2) while it is below, for instance after V8 shrank it when idle. It steps in powers
 *   of two from 2 MiB, so a power of two is met exactly. The check runs between turns of the event
 *   loop: one synchronous turn that allocates the young generation's size twice over can still
 *   grow it past, until V8 shrinks it when idle. Left to V8 when the process was started with
 *   `--max-semi-space-size` (in its arguments or `NODE_OPTIONS`).
 *
 * For the program that owns the process: `truce gateway` calls it at start (primary and workers),
 * and an embedder may; the gateway's modules never call it themselves, as V8 flags are
 * process-wide. Calling it again changes the growth percent but not the young generation's bound.
 */
export function boundGatewayHeap(
  growingPercent = GATEWAY_HEAP_GROWING_PERCENT,
  youngGenerationMb = GATEWAY_YOUNG_GENERATION_MB,
): void {
  setFlagsFromString(`--heap-growing-percent=${growingPercent}`);
  if (youngObserver === undefined && !semiSpaceSetAtStart())
    boundYoungGeneration(youngGenerationMb * 1048576);
}

function boundYoungGeneration(bytes: number): void {
  let growing: boolean | undefined;
  const check = (): void => {
    const grow = youngGenerationBytes() < bytes;
    if (grow === growing) return;
    growing = grow;
    setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
  };
  check();
  // One callback per batch of collections, after they ran: V8 only grows the space during one.
  youngObserver = new PerformanceObserver(check);
  youngObserver.observe({ entryTypes: ['gc'] });
}

/** The young generation's committed size (both semi-spaces). */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}

const SEMI_SPACE_FLAG = /--max[-_]semi[-_]space[-_]size/;

function semiSpaceSetAtStart(): boolean {
  return (
    process.execArgv.some((arg) => SEMI_SPACE_FLAG.test(arg)) ||
    SEMI_SPACE_FLAG.test(process.env.NODE_OPTIONS ?? '')
  );
}
