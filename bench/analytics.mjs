// Analytics query times over a day of gateway traffic at 1,000 calls/s (issue 12), on SQLite.
//
// 86.4M raw calls do not fit this machine's time budget, so the day is measured in its two parts:
// - Roll-ups: the day's 1,440 minutes × 4 routes of roll-up rows, as the writer leaves them after a
//   day at 1,000 calls/s (60,000 calls per minute spread over the routes, statuses, codes and a
//   latency histogram). `summary` and `series` over the day read only these.
// - Raw calls: RAW_CALLS calls pushed through the real call log (redaction, links, batches, indexes),
//   2% of them conflicts on 500 resources, spread over the last RAW_CALLS / 1,000 seconds.
//   `hotspots`, `unconditional` and `retries` read raw calls; their time grows with the conflicts
//   (writes, retries) in the window, so the run reports per-row cost and the day's extrapolation.
// Usage: npm run build && node bench/analytics.mjs   (RAW_CALLS=500000 by default)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { SqliteCallLog } from '../packages/gateway/dist/calls/sqlite-log.js';
import { series, summary, unconditional } from '../packages/gateway/dist/analytics/reports.js';
import { addTo } from '../packages/gateway/dist/calls/histogram.js';

const RAW_CALLS = Number(process.env.RAW_CALLS ?? 500_000);
const ROUTES = ['shop', 'orders', 'users', 'search'];
const DAY = 86_400_000;
const MINUTE = 60_000;
const now = Date.UTC(2026, 11, 3, 0, 0, 0);
const dir = mkdtempSync(join(tmpdir(), 'truce-bench-analytics-'));
const file = join(dir, 'gateway.db');
const log = new SqliteCallLog(
  file,
  {
    bodies: 0,
    redactHeaders: [],
    redactPointers: [],
    retention: { callsMs: 7 * DAY, rollupsMs: 90 * DAY, maxCalls: 100_000_000 },
  },
  () => now,
);

// The day's roll-ups, written as the log writes them (one row per route and minute).
const db = new Database(file);
const upsert = db.prepare(
  'INSERT INTO rollups (route, minute, calls, by_status, by_code, latency) VALUES (?, ?, ?, ?, ?, ?)',
);
db.transaction(() => {
  // Up to the minute the raw calls start in: the log writes the roll-ups of those itself.
  for (let m = now - DAY; m < Math.floor((now - RAW_CALLS) / MINUTE) * MINUTE; m += MINUTE) {
    for (const route of ROUTES) {
      const calls = 15_000;
      const latency = {};
      for (let i = 0; i < 200; i++) addTo(latency, 0.5 + ((i * 7919) % 400) / 4);
      for (const k of Object.keys(latency)) latency[k] *= calls / 200;
      upsert.run(
        route,
        m,
        calls,
        JSON.stringify({ 200: calls - 450, 412: 200, 409: 100, 404: 100, 500: 50 }),
        JSON.stringify({ 'stale-write': 200, conflict: 100, 'not-found': 100 }),
        JSON.stringify(latency),
      );
    }
  }
})();
db.close();

// Raw calls through the log, at 1,000 per second up to `now`.
const started = performance.now();
for (let i = 0; i < RAW_CALLS; i++) {
  const conflict = i % 50 === 0;
  const write = i % 5 === 0 || conflict;
  log.push({
    id: `c${i}`,
    requestId: `r${i}`,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    time: now - RAW_CALLS + i,
    route: ROUTES[i % 4],
    target: 'http://127.0.0.1:4000',
    consumer: `consumer-${i % 40}`,
    clientIp: '127.0.0.1',
    method: write ? 'PUT' : 'GET',
    path: `/shop/products/p${i % 500}`,
    query: null,
    resource: `/products/p${i % 500}`,
    status: conflict ? 412 : 200,
    code: conflict ? 'stale-write' : null,
    conditional: i % 3 !== 0,
    unconditionalWarned: false,
    idempotencyKey: null,
    retryAfter: null,
    durationMs: 0.5 + (i % 400) / 4,
    upstreamMs: 0.4,
    requestBytes: 20,
    responseBytes: 200,
    requestHeaders: {},
    responseHeaders: {},
    requestBody: null,
    responseBody: null,
    bodyHash: `h${i % 7}`,
  });
  if (i % 10_000 === 9_999) await log.flush();
}
await log.flush();
const seeded = performance.now() - started;

async function time(name, run, rows) {
  await run(); // warm the page cache and statement cache
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await run();
    runs.push(performance.now() - t);
  }
  runs.sort((a, b) => a - b);
  const median = runs[2];
  console.log(
    `${name.padEnd(44)} ${median.toFixed(1).padStart(8)} ms  ${(median / 200).toFixed(2).padStart(5)}× of 200 ms${rows ? `  (${rows})` : ''}`,
  );
}

const rawSince = now - RAW_CALLS;
const conflicts = Math.ceil(RAW_CALLS / 50);
console.log(
  `SQLite, ${RAW_CALLS.toLocaleString()} raw calls written in ${(seeded / 1000).toFixed(1)} s (${Math.round(RAW_CALLS / (seeded / 1000)).toLocaleString()}/s), a day of roll-ups (${(86_400_000).toLocaleString()} calls)`,
);
console.log('query                                          median   vs the 200 ms target');
await time(
  'summary, one day (roll-ups)',
  () => summary(log, { since: now - DAY, until: now }),
  '5,760 roll-up rows',
);

await time('summary, one day, one route (roll-ups)', () =>
  summary(log, { route: 'shop', since: now - DAY, until: now }),
);
await time('series, one day, step 1m (roll-ups)', () =>
  series(log, { since: now - DAY, until: now }, MINUTE),
);
await time('series, one day, step 1h (roll-ups)', () =>
  series(log, { since: now - DAY, until: now }, 3_600_000),
);
await time(
  'summary, last minute (raw, true percentiles)',
  () => summary(log, { since: now - MINUTE, until: now }),
  '60,000 calls',
);
await time('series, last minute by 1s (raw)', () => series(log, { since: now - MINUTE, until: now }, 1000));
await time(
  'summary, last 5 min (over 100,000: roll-ups)',
  () => summary(log, { since: now - 300_000, until: now }),
  '300,000 calls',
);
await time(
  `hotspots by resource, raw window`,
  () => log.hotspots('resource', rawSince, now, 50),
  `${conflicts.toLocaleString()} conflicts`,
);
await time(`hotspots by route, raw window`, () => log.hotspots('route', rawSince, now, 50));
await time(`hotspots by consumer, raw window`, () => log.hotspots('consumer', rawSince, now, 50));
await time('hotspots by resource, last hour', () => log.hotspots('resource', now - 3_600_000, now, 50));
await time(
  'unconditional, last 5 min',
  () => unconditional(log, { since: now - 300_000, until: now }),
  `${(300_000 / 5).toLocaleString()} writes`,
);
await time('retries, raw window', () => log.retries(rawSince, now));
await log.close();
rmSync(dir, { recursive: true, force: true });
