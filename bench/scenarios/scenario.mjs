// What a scenario is, and the list run.mjs runs, in order. B1 and B2 are SPEC section 7's; U1
// and D1 are reported next to them without a target of their own.
import { b1 } from './b1-conditional-put.mjs';
import { b2 } from './b2-conditional-get.mjs';
import { d1 } from './d1-decrement-race.mjs';
import { u1 } from './u1-unique-create.mjs';

/**
 * @typedef {object} Side a server a scenario measures
 * @property {'baseline' | 'truce'} server servers/baseline.mjs or servers/truce.mjs
 * @property {string} variant the routes (baseline) or the collections (Truce) it starts with
 */

/**
 * @typedef {object} Scenario
 * @property {string} id e.g. `B1`, as in SPEC section 7
 * @property {string} title
 * @property {'timed' | 'rounds'} [kind] timed slices of load (the default; lib/measure.mjs), or
 *   rounds of a fixed number of requests (lib/race.mjs)
 * @property {number} connections
 * @property {number} resources how many resources are seeded (with the same ids on every side)
 * @property {Record<string, Side>} [sides] default: `baseline` and `truce`, both on `things`.
 *   A `reference` side is a second comparison for Truce, shown next to the baseline's.
 * @property {{ minRatio: number, maxP99Ms?: number } | undefined} target Truce vs baseline
 *   throughput, and Truce's p99; undefined where SPEC 7 sets none (the row is reported only)
 * @property {Record<string, number | number[]>} expectedStatus by side: every response should
 *   have this status (or one of these)
 * @property {{ method: string, headers?: Record<string, string>, body?: string }} load request defaults
 * @property {(resources: { id: string, path: string, etag: string }[]) => object[]} requests
 *   a fresh autocannon request sequence over resources whose ETags are current (timed), or
 *   against the target `prepare` gave (rounds)
 * @property {{ stock: number, requests: number }} [race] rounds only: the race each round runs
 * @property {(baseUrl: string, round: number) => Promise<{ id: string, path: string }>} [prepare]
 *   rounds only: sets up a fresh target for the round
 * @property {(baseUrl: string, target: object, statusCounts: Record<string, number>) =>
 *   Promise<{ succeeded: number, insufficient: number, finalStock: number, problems: string[] }>} [outcome]
 *   rounds only: what the round left behind; any problem makes the row invalid
 */

/** @type {Scenario[]} */
export const scenarios = [b1, b2, u1, d1];
