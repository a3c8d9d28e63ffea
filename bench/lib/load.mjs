// The load generator: autocannon, in this (the parent) process, over keep-alive connections
// without pipelining, so each connection has one request in flight at a time. `url` may list
// several servers (the processes of one PostgreSQL side): autocannon then opens connection i to
// url[i % n], so each gets the same number of connections, and the answers each one gave are
// counted (`byTarget`) to show how the load actually split.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/**
 * One timed slice of load. Returns autocannon's raw result, to be merged with the other slices
 * of the same side by {@link summarise}.
 */
export async function runSlice({ url, connections, durationSec, requests, method, headers, body }) {
  const counter = countByTarget(url);
  const raw = await autocannon({
    url,
    setupClient: counter.setupClient,
    connections,
    duration: durationSec,
    pipelining: 1,
    timeout: 10,
    method,
    headers,
    body,
    requests,
    skipAggregateResult: true,
  });
  return { ...raw, byTarget: counter.counts };
}

/**
 * A burst of exactly `amount` requests over `connections` connections, as fast as they are
 * answered (D1's rounds). autocannon notices the end only at its next sample tick, so its own
 * `duration` would round a short burst up; here `duration` is replaced by the seconds from the
 * start to the last answer, which is what {@link summarise} divides by.
 */
export async function runBurst({ url, connections, amount, requests, method, headers, body }) {
  const started = performance.now();
  let lastAnswer = started;
  const counter = countByTarget(url);
  const tracker = autocannon({
    url,
    setupClient: counter.setupClient,
    connections,
    amount,
    pipelining: 1,
    timeout: 10,
    method,
    headers,
    body,
    requests,
    sampleInt: 50,
    skipAggregateResult: true,
  });
  tracker.on('response', () => {
    lastAnswer = performance.now();
  });
  const raw = await tracker;
  return { ...raw, duration: (lastAnswer - started) / 1000, byTarget: counter.counts };
}

/** Answers by server (`127.0.0.1:port`), counted by a hook on each of autocannon's connections. */
function countByTarget(url) {
  const counts = {};
  for (const each of [url].flat()) counts[new URL(each).host] = 0;
  const setupClient = (client) => {
    const target = `${client.opts.hostname}:${client.opts.port}`;
    client.on('response', () => (counts[target] = (counts[target] ?? 0) + 1));
  };
  return { counts, setupClient };
}

/**
 * @typedef {object} LoadSummary
 * @property {number} requestsPerSec completed requests over measured seconds, all slices together
 * @property {number} requests completed requests
 * @property {number} durationSec measured seconds
 * @property {{ reqPerSec: number }[]} slices each slice's throughput, to see the noise
 * @property {{ mean: number, p50: number, p90: number, p99: number, max: number }} latencyMs
 *   over all slices (autocannon records whole milliseconds)
 * @property {Record<string, number>} statusCounts responses by status code
 * @property {number} errors connection errors
 * @property {number} timeouts requests without an answer within 10 s
 * @property {Record<string, number>} byTarget answers by server (`127.0.0.1:port`), all slices
 */

/** Merges the raw results of one side's slices. @returns {LoadSummary} */
export function summarise(url, rawSlices) {
  // autocannon's own throughput figure needs per-second samples it only keeps within one run,
  // so throughput is computed here; latency histograms and counters merge exactly.
  const slices = rawSlices.map((r) => ({ requests: r.totalCompletedRequests, durationSec: r.duration }));
  const requests = slices.reduce((sum, s) => sum + s.requests, 0);
  const durationSec = slices.reduce((sum, s) => sum + s.durationSec, 0);
  const merged = autocannon.aggregateResult(rawSlices, { url });
  const l = merged.latency;
  const statusCounts = {};
  for (const [code, stats] of Object.entries(merged.statusCodeStats ?? {})) statusCounts[code] = stats.count;
  return {
    requestsPerSec: Math.round(requests / durationSec),
    requests,
    durationSec: Number(durationSec.toFixed(2)),
    slices: slices.map((s) => ({ reqPerSec: Math.round(s.requests / s.durationSec) })),
    latencyMs: { mean: Number(l.average.toFixed(2)), p50: l.p50, p90: l.p90, p99: l.p99, max: l.max },
    statusCounts,
    errors: merged.errors,
    timeouts: merged.timeouts,
    byTarget: sumByTarget(rawSlices),
  };
}

/** Adds up the answers by server of several slices (or rounds). */
export function sumByTarget(parts) {
  const total = {};
  for (const part of parts)
    for (const [target, n] of Object.entries(part.byTarget ?? {})) total[target] = (total[target] ?? 0) + n;
  return total;
}
