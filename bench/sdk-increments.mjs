#!/usr/bin/env node
// CPU per increment, client and server, for B3's `_increment` side (issue 10, item 23): one Truce
// server (SQLite, the `products` collection of D1 and B3) in a child process, and in this process
// 64 SDK clients (`createClient` each, as B3 makes them) doing 50 `api.increment(...)` each on one
// fresh counter per round. Per round it prints increments/s, this process's CPU per increment
// (`process.cpuUsage`, the SDK and Node's fetch) and the server's (`/proc/<pid>/stat`, Linux only),
// and checks that the counter ends exact. A micro-benchmark, not one of the scenarios: B3's table
// compares the sides; this says where an increment's CPU goes.
//
// Environment: ROUNDS (default 6; the first is reported as warm-up and left out of the medians),
// CLIENTS (64), INCREMENTS (50), KEYED (1: the SDK's default Idempotency-Key; 0: `idempotency:
// false`, to see what the key costs), FETCH (`global`: Node's fetch; `client-node`: the SDK's
// `fetch` option given @truce/client-node's nodeFetch(), to see what Node's fetch costs), BENCH_CPU_PROF (a folder: the server runs with --cpu-prof;
// run this script with `node --cpu-prof` for the client's profile), B1 (1: after each round, a 2 s
// slice of B1's load on B1's server, to compare CPU per operation in the same conditions; 0: none).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createClient } from '@truce/client';
import { killAllServers, startServer } from './lib/child.mjs';
import { runSlice } from './lib/load.mjs';
import { nodeFetch } from '@truce/client-node';
import { makeResources, refreshEtags, seed } from './lib/resources.mjs';
import { b1 } from './scenarios/b1-conditional-put.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 6);
const CLIENTS = Number(process.env.CLIENTS ?? 64);
const INCREMENTS = Number(process.env.INCREMENTS ?? 50);
const KEYED = process.env.KEYED !== '0';
const PROF = process.env.BENCH_CPU_PROF;
const FETCH = process.env.FETCH ?? 'global';
const WITH_B1 = process.env.B1 !== '0';
const B1_SLICE_SEC = 2;
if (FETCH !== 'global' && FETCH !== 'client-node') throw new Error(`FETCH=${FETCH}: global or client-node`);
const transport = FETCH === 'global' ? (input, init) => globalThis.fetch(input, init) : nodeFetch();

/** The process's user + system CPU so far, in microseconds (clock ticks of 10 ms on Linux). */
function serverCpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const dataDir = mkdtempSync(join(tmpdir(), 'truce-sdk-incr-'));
process.on('exit', () => {
  killAllServers();
  rmSync(dataDir, { recursive: true, force: true });
});
const server = await startServer({
  label: 'truce',
  script: fileURLToPath(new URL('./servers/truce.mjs', import.meta.url)),
  args: [dataDir, 'products'],
  nodeArgs: PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [],
});

// B1's requests (autocannon, conditional PUTs on 256 resources) against B1's own server, a slice
// after each round: the same CPU per request, measured under the same load as the rounds.
const b1Server =
  WITH_B1 &&
  (await startServer({
    label: 'b1',
    script: fileURLToPath(new URL('./servers/truce.mjs', import.meta.url)),
    args: [mkdtempSync(join(tmpdir(), 'truce-sdk-incr-b1-')), 'things'],
  }));
const b1Resources = makeResources(b1.resources);
if (b1Server) await seed(b1Server.url, b1Resources);

async function b1Slice() {
  await refreshEtags(b1Server.url, b1Resources);
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuMicros(b1Server.pid);
  const raw = await runSlice({
    url: b1Server.url,
    connections: b1.connections,
    durationSec: B1_SLICE_SEC,
    requests: b1.requests(b1Resources),
    ...b1.load,
  });
  const cpu = process.cpuUsage(cpu0);
  const n = raw.totalCompletedRequests;
  const statuses = Object.keys(raw.statusCodeStats ?? {});
  if (statuses.some((code) => code !== '200') || raw.errors > 0 || raw.timeouts > 0) {
    throw new Error(
      `B1 slice: statuses ${statuses.join(', ')}, ${raw.errors} errors, ${raw.timeouts} timeouts`,
    );
  }
  return {
    perSec: Math.round(n / raw.duration),
    clientUs: Math.round((cpu.user + cpu.system) / n),
    serverUs: Math.round((serverCpuMicros(b1Server.pid) - server0) / n),
  };
}

console.error(
  `sdk-increments: ${CLIENTS} clients x ${INCREMENTS} ${KEYED ? 'keyed' : 'unkeyed'} increments over ${FETCH} fetch, ` +
    `${ROUNDS} rounds, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
const rows = [];
const b1Rows = [];
for (let round = 0; round < ROUNDS; round++) {
  const id = `c-${round}`;
  const created = await globalThis.fetch(`${server.url}/products/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', 'if-none-match': '*' },
    body: JSON.stringify({ name: 'counter', stock: 0 }),
  });
  await created.arrayBuffer();
  if (created.status !== 201) throw new Error(`creating ${id} answered ${created.status}`);
  const statuses = {};
  const counting = async (input, init) => {
    const response = await transport(input, init);
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    return response;
  };
  const clients = Array.from({ length: CLIENTS }, (_, i) =>
    createClient({
      baseUrl: server.url,
      headers: { 'truce-actor': `client-${i}` },
      idempotency: KEYED,
      fetch: counting,
    }),
  );
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuMicros(server.pid);
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (api) => {
      for (let n = 0; n < INCREMENTS; n++) await api.increment('products', id, '/stock', 1);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverMicros = serverCpuMicros(server.pid) - server0;
  const final = await (await globalThis.fetch(`${server.url}/products/${id}`)).json();
  const n = CLIENTS * INCREMENTS;
  if (final.stock !== n || final._version !== n + 1) {
    throw new Error(
      `round ${round}: stock ${final.stock}, _version ${final._version}; expected ${n}, ${n + 1}`,
    );
  }
  const row = {
    perSec: Math.round(n / seconds),
    clientUs: Math.round((cpu.user + cpu.system) / n),
    serverUs: Math.round(serverMicros / n),
  };
  rows.push(row);
  console.log(
    `${round === 0 ? 'warm-up' : `round ${round}`}: ${row.perSec} increments/s, CPU per increment: ` +
      `client ${row.clientUs} µs, server ${row.serverUs} µs (exact: ${final.stock}; statuses ${JSON.stringify(statuses)})`,
  );
  if (b1Server) {
    const slice = await b1Slice();
    b1Rows.push(slice);
    console.log(
      `  B1 slice: ${slice.perSec} req/s, CPU per request: autocannon ${slice.clientUs} µs, server ${slice.serverUs} µs`,
    );
  }
}
const median = (list, key) => {
  const values = list
    .slice(1)
    .map((r) => r[key])
    .sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
};
if (rows.length > 1) {
  const [perSec, clientUs, serverUs] = ['perSec', 'clientUs', 'serverUs'].map((k) => median(rows, k));
  console.log(
    `median of rounds 1-${rows.length - 1}: ${perSec} increments/s, client ${clientUs} µs, ` +
      `server ${serverUs} µs per increment; load average ${loadavg()[0].toFixed(2)}`,
  );
  if (b1Server) {
    const [b1PerSec, b1Client, b1Server_] = ['perSec', 'clientUs', 'serverUs'].map((k) => median(b1Rows, k));
    // Both sides share the same 2 CPUs with their load generator: bound by CPU, throughput goes as
    // the inverse of the CPU one operation costs on both sides together.
    const cpuBound = (100 * (b1Client + b1Server_)) / (clientUs + serverUs);
    console.log(
      `B1 median slice: ${b1PerSec} req/s, autocannon ${b1Client} µs, server ${b1Server_} µs per request; ` +
        `increments / B1: measured ${((100 * perSec) / b1PerSec).toFixed(1)}%, ` +
        `as CPU per operation would have it ${cpuBound.toFixed(1)}%`,
    );
  }
}
await server.stop();
if (b1Server) await b1Server.stop();
