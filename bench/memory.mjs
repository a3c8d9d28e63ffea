#!/usr/bin/env node
// B5's server half (SPEC 7: "server RSS <= 150 MB after 100k writes"): a Truce server on SQLite,
// as B1 runs it (servers/truce.mjs, collection `things` with its schema), takes 100,000 writes from
// 64 keep-alive connections: a PUT creating each of 50,000 resources, then a PUT replacing each of
// them (so history and the change feed hold a version of every write). Its RSS is read from /proc
// every 250 ms during the load (the peak is VmHWM), 1 s after the last answer and after 10 s more;
// then the rows and the database's size on disk. The gateway's half is in gateway.mjs.
//
// Environment: BENCH_B5_WRITES (100000), BENCH_B5_SECONDS (time bound of the load, 600).
// Results: results/memory-latest.json. Exits 0 whether or not the target is met.
import Database from 'better-sqlite3';
import autocannon from 'autocannon';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { killAllServers, startServer } from './lib/child.mjs';
import { rssOf } from './lib/wrk.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const writes = Number(process.env.BENCH_B5_WRITES ?? 100_000);
const seconds = Number(process.env.BENCH_B5_SECONDS ?? 600);
const resources = Math.ceil(writes / 2);
const LIMIT_MB = 150;

const dir = mkdtempSync(join(tmpdir(), 'truce-b5-server-'));
process.on('exit', () => {
  killAllServers();
  rmSync(dir, { recursive: true, force: true });
});

const before = loadavg()[0];
console.log(
  `B5 (server): ${cpus().length} CPUs, Node.js ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      ' ',
    )}; ${writes.toLocaleString('en-US')} writes over ${resources.toLocaleString('en-US')} resources, 64 connections`,
);
const server = await startServer({
  label: 'truce',
  script: join(here, 'servers/truce.mjs'),
  args: [dir, 'things'],
});
try {
  const idle = rssOf(server.pid);
  let n = 0;
  const body = (i, pass) =>
    JSON.stringify({
      title: `thing ${i} ${pass === 0 ? 'created' : 'replaced'}`,
      count: i,
      tags: ['b5', `pass-${pass}`],
      note: 'x'.repeat(120),
    });
  const samples = [];
  const sampler = setInterval(() => samples.push(rssOf(server.pid).rssMb), 250);
  const started = performance.now();
  const result = await autocannon({
    url: server.url,
    connections: 64,
    amount: writes,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => {
          const k = n++;
          const i = k % resources;
          return { ...req, path: `/things/b5-${i}`, body: body(i, Math.floor(k / resources)) };
        },
      },
    ],
  });
  const loadSec = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await delay(1_000);
  const afterLoad = rssOf(server.pid);
  await delay(10_000);
  const after = rssOf(server.pid);

  const db = join(dir, 'truce.db');
  const reader = new Database(db, { readonly: true, fileMustExist: true });
  const tables = reader
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .all()
    .map((t) => t.name);
  const rows = Object.fromEntries(
    tables.map((t) => [t, reader.prepare(`SELECT count(*) AS n FROM "${t.replaceAll('"', '""')}"`).get().n]),
  );
  reader.close();
  const sizeOnDisk = readdirSync(dir)
    .filter((f) => f.startsWith('truce.db'))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);

  const ok = result['2xx'];
  const out = {
    writes,
    resources,
    answered2xx: ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    loadSeconds: Number(loadSec.toFixed(1)),
    writesPerSec: Math.round(ok / loadSec),
    idleRssMb: Number(idle.rssMb.toFixed(1)),
    rssAfterLoadMb: Number(afterLoad.rssMb.toFixed(1)),
    rssMb: Number(after.rssMb.toFixed(1)),
    peakRssMb: Number(after.peakMb.toFixed(1)),
    highestSampledMb: Number(Math.max(...samples).toFixed(1)),
    rows,
    databaseBytes: sizeOnDisk,
    loadAverage: { before: Number(before.toFixed(2)), after: Number(loadavg()[0].toFixed(2)) },
    met: after.rssMb <= LIMIT_MB && after.peakMb <= LIMIT_MB && ok === writes,
  };
  writeFileSync(join(here, 'results/memory-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  const mb = (v) => `${v.toFixed(1)} MB`;
  const rowsText = Object.entries(rows)
    .map(([t, c]) => `${t} ${c.toLocaleString('en-US')}`)
    .join(', ');
  console.log(`
measure                          value
-------------------------------  ------------------------------------------------
writes answered 2xx              ${ok.toLocaleString('en-US')} of ${writes.toLocaleString('en-US')} (${result.non2xx} other statuses, ${result.errors} errors, ${result.timeouts} timeouts) in ${loadSec.toFixed(1)} s (${out.writesPerSec.toLocaleString('en-US')}/s)
server RSS idle                  ${mb(idle.rssMb)}
server RSS 1 s after the load    ${mb(afterLoad.rssMb)}
server RSS 11 s after the load   ${mb(after.rssMb)}   (target <= ${LIMIT_MB} MB)
server peak RSS (VmHWM)          ${mb(after.peakMb)}   (highest sampled ${mb(out.highestSampledMb)})
rows                             ${rowsText}
database on disk                 ${(sizeOnDisk / 1048576).toFixed(1)} MB (with WAL)
result                           ${out.met ? 'met' : 'not met'}
load average                     ${out.loadAverage.before} -> ${out.loadAverage.after}
results: ${join(here, 'results/memory-latest.json')}`);
} finally {
  await server.stop();
}
