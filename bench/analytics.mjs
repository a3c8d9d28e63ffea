// Analytics query times over a day of gateway traffic at 1,000 calls/s (issue 12), on SQLite and on
// PostgreSQL, every report against the 200 ms target.
//
// 86.4M raw calls do not fit this machine's time budget, so the day is built in two parts:
// - The last RAW_CALLS calls (default 300,000: five minutes) are pushed through the real call log
//   (redaction, links, batches, indexes, route and key roll-ups), then the real roll-up step runs as
//   the clock stood 70 s before the end: the newest minutes stay whole (not yet cut to their
//   top-K) and their overlaps raw, the most there is in steady state (a minute closes 35 s after
//   its end, its overlaps 60 s later; the step runs every 10 s).
// - Everything before them is written as the writer and the roll-up step leave it after a day:
//   route roll-ups for each of the 1,440 minutes; key roll-ups full to the top-K (the worst case
//   for reading): compacted hours (HOUR_TOP_K keys) up to the current hour, minutes
//   (MINUTE_TOP_K keys) for the last three hours.
// The raw calls spread their conflicts (2%) over RESOURCES resources with a skew (a few hot ones).
// Usage: npm run build && node bench/analytics.mjs   (RAW_CALLS, RESOURCES; STORES=sqlite,postgres)
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import os, { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { SqliteCallLog } from '../packages/gateway/dist/calls/sqlite-log.js';
import { PostgresCallLog } from '../packages/gateway/dist/calls/postgres-log.js';
import { openPostgresDatabase } from '../packages/gateway/dist/storage/postgres.js';
import { series, summary } from '../packages/gateway/dist/analytics/reports.js';
import { hotspots, retries, unconditional } from '../packages/gateway/dist/analytics/key-reports.js';
import { FIELDS } from '../packages/gateway/dist/analytics/top-k.js';
import {
  HOUR,
  HOUR_TOP_K,
  LATE_MS,
  MINUTE,
  MINUTE_ROWS_MS,
  MINUTE_TOP_K,
} from '../packages/gateway/dist/calls/key-rollups.js';
import { addTo } from '../packages/gateway/dist/calls/histogram.js';
import { OVERLAP_MS } from '../packages/gateway/dist/analytics/overlap.js';
import { openBenchSchema, stopBenchDatabase } from './lib/postgres.mjs';

const RAW_CALLS = Number(process.env.RAW_CALLS ?? 300_000);
const RESOURCES = Number(process.env.RESOURCES ?? 20_000);
const STORES = (process.env.STORES ?? 'sqlite,postgres').split(',');
const ROUTES = ['shop', 'orders', 'users', 'search'];
const CONSUMERS = 40;
const DAY = 86_400_000;
const end = Date.UTC(2026, 11, 3, 0, 0, 0);
const rawStart = end - RAW_CALLS;
const firstRawMinute = Math.floor(rawStart / MINUTE) * MINUTE;
const logConfig = {
  bodies: 0,
  redactHeaders: [],
  redactPointers: [],
  retention: { callsMs: 7 * DAY, rollupsMs: 90 * DAY, maxCalls: 100_000_000 },
};

/** The rows a day leaves before the raw calls, as [table, columns, rows]. */
function dayRows() {
  const rollups = [];
  const latency = {};
  for (let i = 0; i < 200; i++) addTo(latency, 0.5 + ((i * 7919) % 400) / 4);
  for (const k of Object.keys(latency)) latency[k] *= 15_000 / 200;
  const status = JSON.stringify({ 200: 15_000 - 450, 412: 200, 409: 100, 404: 100, 500: 50 });
  const code = JSON.stringify({ 'stale-write': 200, conflict: 100, 'not-found': 100 });
  for (let m = end - DAY; m < firstRawMinute; m += MINUTE)
    for (const route of ROUTES) rollups.push([route, m, 15_000, status, code, JSON.stringify(latency)]);
  // The hourly roll-ups the writer adds to with the minutes: the bulk minutes of each hour, summed.
  const hours = [];
  const times = (json, n) =>
    JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(json)).map(([k, v]) => [k, v * n])));
  for (let h = end - DAY; h < firstRawMinute; h += HOUR) {
    const n = (Math.min(h + HOUR, firstRawMinute) - h) / MINUTE;
    for (const route of ROUTES)
      hours.push([route, h, 15_000 * n, times(status, n), times(code, n), times(JSON.stringify(latency), n)]);
  }

  // Per-key periods, full to the top-K for resources: hours up to the last, then minutes.
  const keys = [];
  const bounds = [];
  const period = (span, start, scale) => {
    const dims = {
      resource: Array.from(
        { length: span === HOUR ? HOUR_TOP_K : MINUTE_TOP_K },
        (_, i) => `/products/p${i}`,
      ),
      route: ROUTES,
      consumer: Array.from({ length: CONSUMERS }, (_, i) => `consumer-${i}`),
    };
    for (const [dim, names] of Object.entries(dims)) {
      names.forEach((key, i) => {
        const c = Math.max(1, Math.round((scale * 1200) / names.length / (1 + i / 50)));
        const counts = {
          calls: c * 50,
          conflicts: c,
          writes: c * 10,
          unconditional: c * 3,
          overlapping: c,
          retries: c,
          early: 0,
          blind: c >> 1,
        };
        keys.push([
          dim,
          span,
          start,
          key,
          ...FIELDS.map((f) => counts[f]),
          start + span - 1,
          JSON.stringify({ 'stale-write': c }),
        ]);
      });
      bounds.push([dim, span, start, ...FIELDS.map(() => (dim === 'resource' ? scale : 0))]);
    }
  };
  const lastHour = Math.floor(rawStart / HOUR) * HOUR;
  for (let h = end - DAY; h < lastHour; h += HOUR) period(HOUR, h, 60);
  for (let m = Math.max(end - MINUTE_ROWS_MS, end - DAY); m < firstRawMinute; m += MINUTE)
    period(MINUTE, m, 1);
  const state = [[1, firstRawMinute, firstRawMinute, lastHour]];
  // The state first: the log's retention timer may run the roll-up step while the rest goes in.
  return [
    ['key_rollup_state', ['one', 'rolled_to', 'overlap_to', 'compacted_to'], state],
    ['rollups', ['route', 'minute', 'calls', 'by_status', 'by_code', 'latency'], rollups],
    ['rollup_hours', ['route', 'hour', 'calls', 'by_status', 'by_code', 'latency'], hours],
    ['key_rollups', ['dim', 'span', 'start', 'key', ...FIELDS, 'last_at', 'by_code'], keys],
    ['key_rollup_bounds', ['dim', 'span', 'start', ...FIELDS.map((f) => `err_${f}`)], bounds],
  ];
}

/** A pseudo-random number in [0, 1) from `i`, the same every run. */
const rand = (i) => {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return x - Math.floor(x);
};

function rawCall(i) {
  const conflict = i % 50 === 0;
  const write = i % 5 === 0 || conflict;
  // Skewed: the cube of a uniform number puts most calls on the first resources.
  const p = Math.floor(RESOURCES * rand(i) ** 3);
  return {
    id: `c${i}`,
    requestId: `r${i}`,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    time: rawStart + i,
    route: ROUTES[i % 4],
    target: 'http://127.0.0.1:4000',
    consumer: `consumer-${i % CONSUMERS}`,
    clientIp: '127.0.0.1',
    method: write ? 'PUT' : 'GET',
    path: `/shop/products/p${p}`,
    query: null,
    resource: `/products/p${p}`,
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
  };
}

async function sqliteStore(clock) {
  const dir = mkdtempSync(join(tmpdir(), 'truce-bench-analytics-'));
  const file = join(dir, 'gateway.db');
  const log = new SqliteCallLog(file, logConfig, clock);
  const db = new Database(file);
  return {
    name: 'SQLite',
    log,
    async bulk(table, columns, rows) {
      const insert = db.prepare(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      );
      db.transaction(() => rows.forEach((r) => insert.run(...r)))();
    },
    async close() {
      db.close();
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresStore(clock) {
  const { url, schema, drop } = await openBenchSchema('analytics', (m) => console.error(`[postgres] ${m}`));
  const db = await openPostgresDatabase(`${url}${url.includes('?') ? '&' : '?'}schema=${schema}`);
  const log = new PostgresCallLog(db, logConfig, clock);
  const pool = db.pool;
  return {
    name: 'PostgreSQL',
    log,
    async bulk(table, columns, rows) {
      for (let i = 0; i < rows.length; i += 2_000) {
        const slice = rows.slice(i, i + 2_000);
        let n = 0;
        const values = slice.map(() => `(${columns.map(() => `$${++n}`).join(', ')})`).join(', ');
        await pool.query(
          `INSERT INTO ${db.s}.${table} (${columns.join(', ')}) VALUES ${values}`,
          slice.flat(),
        );
      }
      await pool.query(`ANALYZE ${db.s}.${table}`);
    },
    async close() {
      await log.close();
      await drop();
    },
  };
}

async function time(run) {
  await run(); // warm the caches and statements
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await run();
    runs.push(performance.now() - t);
  }
  return runs.sort((a, b) => a - b)[2];
}

const day = { since: end - DAY, until: end };
const hour = { since: end - HOUR, until: end };
const QUERIES = [
  ['summary, day', (log) => summary(log, day)],
  ['summary, day, one route', (log) => summary(log, { ...day, route: 'shop' })],
  ['series, day, step 1m', (log) => series(log, day, MINUTE)],
  ['series, day, step 1h', (log) => series(log, day, HOUR)],
  ['series, day, one route, step 1m', (log) => series(log, { ...day, route: 'shop' }, MINUTE)],
  ['hotspots by resource, day', (log) => hotspots(log, 'resource', day, 50, end)],
  ['hotspots by route, day', (log) => hotspots(log, 'route', day, 50, end)],
  ['hotspots by consumer, day', (log) => hotspots(log, 'consumer', day, 50, end)],
  ['unconditional, day', (log) => unconditional(log, day, end)],
  ['retries, day', (log) => retries(log, day, end)],
  ['hotspots by resource, last hour', (log) => hotspots(log, 'resource', hour, 50, end)],
  ['unconditional, last hour', (log) => unconditional(log, hour, end)],
  ['summary, last minute (raw)', (log) => summary(log, { since: end - MINUTE, until: end })],
];

const results = new Map();
const notes = [];
for (const which of STORES) {
  // While the raw calls go in, no minute of theirs is closed: the retention timer cuts none.
  let now = rawStart;
  const store = await (which === 'postgres' ? postgresStore : sqliteStore)(() => now);
  try {
    for (const [table, columns, rows] of dayRows()) await store.bulk(table, columns, rows);
    const started = performance.now();
    for (let i = 0; i < RAW_CALLS; i++) {
      store.log.push(rawCall(i));
      if (i % 10_000 === 9_999) await store.log.flush();
    }
    await store.log.flush();
    const written = performance.now() - started;
    now = end - 70_000;
    const before = await store.log.keys.state();
    const rolling = performance.now();
    // The longest the steps hold the event loop: what a proxied request would wait behind them.
    const held = monitorEventLoopDelay({ resolution: 1 });
    held.enable();
    await store.log.enforceRetention();
    held.disable();
    const rolled = performance.now() - rolling;
    const after = await store.log.keys.state();
    const minutes = (after.rolledTo - before.rolledTo) / MINUTE;
    const overlaps = (after.overlapTo - before.overlapTo) / MINUTE;
    notes.push(
      `${store.name}: ${RAW_CALLS.toLocaleString()} raw calls written in ${(written / 1000).toFixed(1)} s; ` +
        `the roll-up steps took ${rolled.toFixed(0)} ms to cut ${minutes} minutes of 60,000 calls to their top-K and add ${overlaps} minutes' overlaps; ` +
        `minutes from ${new Date(after.rolledTo).toISOString().slice(11, 16)} uncut, overlaps from ${new Date(after.overlapTo).toISOString().slice(11, 16)} read raw; ` +
        `the event loop was held ${(held.max / 1e6).toFixed(0)} ms at most (p99 ${(held.percentile(99) / 1e6).toFixed(0)} ms)`,
    );
    now = end;
    for (const [name, run] of QUERIES) {
      const row = results.get(name) ?? {};
      row[store.name] = await time(() => run(store.log));
      results.set(name, row);
    }
    // The hour closes: its last minutes are cut, their overlaps added, then the hour is compacted.
    now = end + LATE_MS + OVERLAP_MS + MINUTE;
    const closing = monitorEventLoopDelay({ resolution: 1 });
    closing.enable();
    const compacting = performance.now();
    // The log's own timer may be rolling up already (PostgreSQL then skips the call): until it is done.
    for (let i = 0; i < 600 && (await store.log.keys.state()).compactedTo < end; i++) {
      await store.log.enforceRetention();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const compacted = performance.now() - compacting;
    closing.disable();
    notes.push(
      `${store.name}: closing the last hour (cutting its last minutes, compacting it) took ${compacted.toFixed(0)} ms; ` +
        `the event loop was held ${(closing.max / 1e6).toFixed(0)} ms at most; compacted to ${new Date((await store.log.keys.state()).compactedTo).toISOString().slice(11, 16)}`,
    );
    now = end;
    const shown = await hotspots(store.log, 'resource', day, 50, end);
    notes.push(
      `${store.name}: hotspots by resource over the day, error bound ${JSON.stringify(shown.error ?? {})}`,
    );
  } finally {
    await store.close();
  }
}
await stopBenchDatabase();

const names = STORES.map((s) => (s === 'postgres' ? 'PostgreSQL' : 'SQLite'));
console.log(`\nAnalytics over a day at 1,000 calls/s: median of 5 runs, ms (× of the 200 ms target)`);
console.log(`| query | ${names.join(' | ')} |`);
console.log(`|---|${names.map(() => '---:|').join('')}`);
for (const [name, row] of results)
  console.log(
    `| ${name} | ${names.map((n) => `${row[n].toFixed(1)} (${(row[n] / 200).toFixed(2)}×)`).join(' | ')} |`,
  );
for (const note of notes) console.log(`- ${note}`);
console.log(
  `- load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')} (${os.availableParallelism()} cores)`,
);
