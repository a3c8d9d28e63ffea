// What a scenario is, and the list run.mjs runs, in order.
import { b1 } from './b1-conditional-put.mjs';
import { b2 } from './b2-conditional-get.mjs';

/**
 * @typedef {object} Scenario
 * @property {string} id e.g. `B1`, as in SPEC section 7
 * @property {string} title
 * @property {number} connections
 * @property {number} resources how many resources are seeded (with the same ids on both servers)
 * @property {{ minRatio: number, maxP99Ms?: number }} target Truce vs baseline throughput, and Truce's p99
 * @property {{ baseline: number, truce: number }} expectedStatus every response should have this status
 * @property {{ method: string, headers?: Record<string, string>, body?: string }} load request defaults
 * @property {(resources: { id: string, path: string, etag: string }[]) => object[]} requests
 *   a fresh autocannon request sequence over resources whose ETags are current
 */

/** @type {Scenario[]} */
export const scenarios = [b1, b2];
