// The load generator: autocannon, in this (the parent) process, over keep-alive connections
// without pipelining, so each connection has one request in flight at a time.
import autocannon from 'autocannon';

/**
 * One timed slice of load. Returns autocannon's raw result, to be merged with the other slices
 * of the same side by {@link summarise}.
 */
export async function runSlice({ url, connections, durationSec, requests, method, headers, body }) {
  return autocannon({
    url,
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
  };
}
