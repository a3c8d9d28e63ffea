import { setFlagsFromString } from 'node:v8';
import { boundYoungGeneration, YOUNG_GENERATION_MB } from '@truce/runtime';

/** How far V8 lets the old generation grow past its live size between full collections. */
export const GATEWAY_HEAP_GROWING_PERCENT = 25;

/**
 * Keeps a gateway process's heap close to what it holds live (SPEC 7 B5: RSS <= 150 MB after a
 * million logged calls). Two bounds:
 *
 * - **The old generation.** By default V8 lets it grow to up to four times its live size before a
 *   full collection; a gateway holds little (some 20-30 MB) but promotes steadily (call records
 *   waiting for their batch, keep-alive sockets' state), so its resident memory swung between about
 *   135 and 220 MB with the phase of that cycle. At 25% growth the full collections come more
 *   often, each short since the live heap is small. V8 reads this flag at every collection.
 * - **The young generation**, held at 16 MiB instead of the 32 MiB V8 grows it to under steady
 *   traffic (`boundYoungGeneration` of `@truce/runtime`, which says how, and when it leaves it to
 *   the operator's `--max-semi-space-size`).
 *
 * For the program that owns the process: `truce gateway` calls it at start (primary and workers),
 * and an embedder may; the gateway's modules never call it themselves, as V8 flags are
 * process-wide. Calling it again changes the growth percent but not the young generation's bound.
 */
export function boundGatewayHeap(
  growingPercent = GATEWAY_HEAP_GROWING_PERCENT,
  youngGenerationMb = YOUNG_GENERATION_MB,
): void {
  setFlagsFromString(`--heap-growing-percent=${growingPercent}`);
  boundYoungGeneration(youngGenerationMb);
}
