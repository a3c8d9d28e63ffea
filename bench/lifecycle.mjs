// The lifecycle report (issue 12 item 6) over long windows, on SQLite: how long
// `GET /analytics/lifecycle` takes to read its per-minute roll-ups.
//
// The roll-ups of DAYS days (30 by default) of two retiring routes are written as the log leaves
// them: a row per route, consumer and minute in which the consumer called, CONSUMERS consumers
// (100 by default) each calling in one minute out of ACTIVE (10 by default), and the hour and day
// rows that add those up. The report over the
// whole span, a week, a day and an hour is timed against the 200 ms target of the analytics API; the
// baseline is the same sums read from the raw calls they stand for, which the bench writes for the
// last hour only (a day of them would not fit its time budget) and extrapolates.
// Usage: npm run build && node bench/lifecycle.mjs   (DAYS=30 CONSUMERS=100 ACTIVE=10)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { SqliteCallLog } from '../packages/gateway/dist/calls/sqlite-log.js';
import { lifecycle } from '../packages/gateway/dist/analytics/lifecycle.js';
import { resolveGatewayConfig } from '../packages/gateway/dist/config/load.js';

const DAYS = Number(process.env.DAYS ?? 30);
const CONSUMERS = Number(process.env.CONSUMERS ?? 100);
const ACTIVE = Number(process.env.ACTIVE ?? 10);
/** Calls a consumer makes in a minute it is active, on average. */
const CALLS_PER_MINUTE = 30;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
// Not on a day or an hour: windows read minutes and hours at their edges, as real ones do.
const now = Date.UTC(2026, 11, 3, 13, 37, 20);
const ROUTES = ['v1', 'v0'];

const { routes } = resolveGatewayConfig(
  {
    gateway: {
      upstreams: { a: { targets: ['http://127.0.0.1:1'] } },
      routes: [
        { name: 'shop', match: { prefix: '/shop' }, upstream: 'a' },
        {
          name: 'v1',
          match: { prefix: '/v1' },
          upstream: 'a',
          lifecycle: { deprecated: '2026-06-01', link: '/shop' },
        },
        {
          name: 'v0',
          match: { prefix: '/v0' },
          upstream: 'a',
          lifecycle: { sunset: '2026-01-01', link: '/shop' },
        },
      ],
    },
  },
  { env: {} },
);
const dir = mkdtempSync(join(tmpdir(), 'truce-bench-lifecycle-'));
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

const started = performance.now();
const db = new Database(file);
const upsert = db.prepare(
  'INSERT INTO lifecycle_rollups (route, consumer, span, start, calls, gone, last_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
);
let rows = 0;
db.transaction(() => {
  for (let m = Math.floor((now - DAYS * DAY) / MINUTE) * MINUTE; m < now; m += MINUTE) {
    const slot = m / MINUTE;
    for (const route of ROUTES) {
      for (let c = 0; c < CONSUMERS; c++) {
        if ((slot + c * 7) % ACTIVE !== 0) continue;
        const calls = 1 + ((slot + c) % (2 * CALLS_PER_MINUTE - 1));
        upsert.run(route, `consumer-${c}`, MINUTE, m, calls, route === 'v0' ? calls : 0, m + 59_000);
        rows++;
      }
    }
  }
  for (const span of [HOUR, DAY]) {
    db.prepare(
      `INSERT INTO lifecycle_rollups (route, consumer, span, start, calls, gone, last_at)
       SELECT route, consumer, ?, CAST(start / ? AS INTEGER) * ?, sum(calls), sum(gone), max(last_at) FROM lifecycle_rollups
       WHERE span = ? GROUP BY 1, 2, 3, 4`,
    ).run(span, span, span, MINUTE);
  }
})();
rows = db.prepare('SELECT count(*) AS n FROM lifecycle_rollups').get().n;
db.close();
const seeded = performance.now() - started;

// The baseline: the last hour's calls to the two routes as raw calls, summed from the call log.
const raw = new Database(file);
const hourStart = Math.floor((now - HOUR) / MINUTE) * MINUTE;
const hourCalls = raw
  .prepare('SELECT sum(calls) AS n FROM lifecycle_rollups WHERE span = 60000 AND start >= ?')
  .get(hourStart).n;
const insertCall = raw.prepare(
  `INSERT INTO calls (id, time, route, consumer, client_ip, method, path, status, code, conditional, warned,
     duration_ms, request_bytes, response_bytes, request_id, traceparent, detail)
   VALUES (?, ?, ?, ?, '127.0.0.1', 'GET', '/v1/x', ?, ?, 0, 0, 1, 0, 0, '', '', '{}')`,
);
raw.transaction(() => {
  let n = 0;
  for (const r of raw
    .prepare('SELECT route, consumer, start, calls FROM lifecycle_rollups WHERE span = 60000 AND start >= ?')
    .all(hourStart)) {
    for (let i = 0; i < r.calls; i++) {
      const gone = r.route === 'v0';
      insertCall.run(`c${n++}`, r.start + i, r.route, r.consumer, gone ? 410 : 200, gone ? 'sunset' : null);
    }
  }
})();
const rawSum = raw.prepare(
  `SELECT route, consumer, count(*) AS calls, sum(CASE WHEN status = 410 THEN 1 ELSE 0 END) AS gone,
     max(time) AS last_at FROM calls WHERE time >= ? AND time < ? AND route IN ('v1', 'v0')
   GROUP BY route, consumer`,
);

async function time(name, run) {
  await run(); // warm the page cache and statement cache
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await run();
    runs.push(performance.now() - t);
  }
  runs.sort((a, b) => a - b);
  return runs[2];
}

console.log(
  `SQLite, ${rows.toLocaleString()} lifecycle roll-up rows (${DAYS} days, ${ROUTES.length} routes, ${CONSUMERS} consumers, active one minute in ${ACTIVE}) written in ${(seeded / 1000).toFixed(1)} s`,
);
const baseline = await time('raw', () => rawSum.all(now - HOUR, now));
console.log(
  `baseline: the last hour from raw calls (${hourCalls.toLocaleString()} calls) ${baseline.toFixed(1)} ms, so ${((baseline * DAYS * DAY) / HOUR / 1000).toFixed(1)} s for ${DAYS} days`,
);
console.log('window                      median   vs the 200 ms target   raw calls of the window would take');
for (const [name, span] of [
  [`${DAYS} days`, DAYS * DAY],
  ['7 days', 7 * DAY],
  ['1 day', DAY],
  ['1 hour', HOUR],
]) {
  const ms = await time(name, () => lifecycle(log, routes, { since: now - span, until: now }));
  const rawMs = (baseline * span) / HOUR;
  console.log(
    `${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  ${(ms / 200).toFixed(2).padStart(5)}× of 200 ms  ${(rawMs / ms).toFixed(0).padStart(8)}× as long`,
  );
}
raw.close();
await log.close();
rmSync(dir, { recursive: true, force: true });
