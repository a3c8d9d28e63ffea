// The PostgreSQL table: a row per scenario (B1-PG, U1-PG, D1-PG, M1-PG), a column per store:
// Truce on SQLite, on PostgreSQL with one, two and four processes, and, for B1, the bare Fastify
// baseline of the same run. Ratios compare the stores with each other, the processes with one, and
// B1-PG's PG x1 with `pgbench -N` on the same cluster; nothing is judged against a target, but a
// side with unexpected answers or a wrong outcome makes its row INVALID, as in the main table, and
// a note says what happened. Lines under the table give pgbench's figures and, per row and side,
// the CPU its processes and PostgreSQL's used per request over the measured slices.
import { STORE_LABELS } from '../scenarios/postgres-variants.mjs';
import { PGBENCH } from './pgbench.mjs';
import { unexpected } from './report.mjs';

/**
 * Like report.mjs's judge, without a baseline or a target: is every side's outcome as expected?
 * @param {import('./pgbench.mjs').PgbenchResult} [pgbench] the run's, for a row with `vsPgbench`
 */
export function judgeStores(scenario, sides, pgbench) {
  const bad = {};
  const problems = {};
  for (const [name, side] of Object.entries(sides)) {
    bad[name] = unexpected(side, scenario.expectedStatus[name]);
    problems[name] = side.problems ?? [];
  }
  const valid =
    Object.values(bad).every((n) => n === 0) && Object.values(problems).every((p) => p.length === 0);
  return { ratios: ratios(scenario, sides, pgbench), met: null, valid, unexpected: bad, problems };
}

/**
 * PG x1, x2 and x4 against SQLite, two and four processes against one, and (B1-PG) PG x1's
 * requests per second against pgbench's transactions per second.
 */
function ratios(scenario, sides, pgbench) {
  const rate = rateOf(scenario);
  const of = (a, b) =>
    sides[a] && sides[b] && sides[b][rate] > 0 ? sides[a][rate] / sides[b][rate] : undefined;
  return {
    pg1VsSqlite: of('pg1', 'sqlite'),
    pg2VsSqlite: of('pg2', 'sqlite'),
    pg4VsSqlite: of('pg4', 'sqlite'),
    pg2VsPg1: of('pg2', 'pg1'),
    pg4VsPg1: of('pg4', 'pg1'),
    ...(scenario.vsPgbench && {
      pg1VsPgbench: sides.pg1 && pgbench?.tps > 0 ? sides.pg1[rate] / pgbench.tps : undefined,
    }),
  };
}

/** The Truce sides, whose latencies the table shows. */
const TRUCE_SIDES = ['sqlite', 'pg1', 'pg2', 'pg4'];

/** The table, or an empty string without PostgreSQL rows. */
export function formatStoresTable(rows) {
  if (rows.length === 0) return '';
  const names = Object.keys(STORE_LABELS);
  const header = [
    'scenario',
    'unit',
    ...names.map((name) => STORE_LABELS[name]),
    'PG x1 / SQLite',
    'PG x2 / PG x1',
    'PG x4 / PG x1',
    'PG x1 / pgbench',
    'p50 SQLite | x1 | x2 | x4',
    'p99 SQLite | x1 | x2 | x4',
    'result',
  ];
  const body = rows.map((row) => {
    if (row.error !== undefined) {
      const cells = Array.from({ length: header.length }, () => '-');
      cells[0] = row.scenario.id;
      cells[header.length - 1] = 'ERROR (see note)';
      return cells;
    }
    const { scenario, sides, verdict } = row;
    const rate = rateOf(scenario);
    const latency = (p) =>
      `${TRUCE_SIDES.map((name) => (sides[name] ? Math.round(sides[name].latencyMs[p]) : '-')).join(' | ')} ms`;
    return [
      scenario.id,
      rate === 'commitsPerSec' ? 'commits/s' : 'req/s',
      ...names.map((name) => (sides[name] ? fmtInt(sides[name][rate]) : 'n/a')),
      fmtPercent(verdict.ratios.pg1VsSqlite),
      fmtPercent(verdict.ratios.pg2VsPg1),
      fmtPercent(verdict.ratios.pg4VsPg1),
      fmtPercent(verdict.ratios.pg1VsPgbench),
      latency('p50'),
      latency('p99'),
      verdict.valid ? 'reported' : 'INVALID (see note)',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  // Text left, numbers right.
  const left = new Set([0, 1, header.length - 1]);
  const line = (cells) =>
    cells
      .map((c, i) => (left.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/**
 * Lines under the table: pgbench's figures, how the processes shared the load, the CPU per request,
 * how D1's races and M1's writers ended, and what the run's database and pool were.
 * @param {{ database?: string, poolSize?: number, pgbench?: import('./pgbench.mjs').PgbenchResult, cpus?: number, loadAverage?: number }} setup
 */
export function formatStoresDetails(rows, setup) {
  const lines = [];
  if (setup.pgbench) lines.push(pgbenchLine(setup.pgbench, rows));
  for (const { scenario, sides, error } of rows) {
    if (error !== undefined) continue;
    const labelled = Object.keys(sides).map((name) => [name, sides[name], STORE_LABELS[name] ?? name]);
    for (const name of ['pg2', 'pg4']) {
      const split = sides[name] && shares(sides[name].byTarget);
      if (split) lines.push(`${scenario.id} ${STORE_LABELS[name]}: answers per process ${split}`);
    }
    lines.push(...cpuLines(scenario, labelled, setup.cpus));
    if (scenario.race !== undefined) {
      const { stock, requests } = scenario.race;
      const rounds = labelled.map(([, side, label]) => `${label} ${side.rounds.length}`).join(', ');
      const wrong = labelled.filter(([, side]) => side.problems.length > 0).map(([, , label]) => label);
      lines.push(
        `${scenario.id}: rounds per side ${rounds}, each of stock ${fmtInt(stock)} and ${fmtInt(requests)} ` +
          `decrements at once; ${
            wrong.length === 0
              ? `every round on every side: ${fmtInt(stock)} succeeded, ${fmtInt(requests - stock)} got 409 insufficient, final stock 0`
              : `wrong rounds on ${wrong.join(', ')} (see note)`
          }`,
      );
    }
    if (scenario.kind === 'writers') {
      const { count, writes } = scenario.writers;
      for (const [, side, label] of labelled) {
        const busy = side.statusCounts[503] ?? 0;
        lines.push(
          `${scenario.id} ${label}: ${fmtInt(side.commits)} commits in ${fmtInt(side.requests)} requests ` +
            `over ${side.rounds.length} rounds of ${count} writers x ${writes} (${fmtPercent(side.conflictShare)} ` +
            `conflicted, ${fmtInt(busy)} answered 503 busy and sent again after Retry-After), ` +
            `write p50 ${Math.round(side.latencyMs.p50)} ms, p99 ${Math.round(side.latencyMs.p99)} ms`,
        );
      }
      const wrong = labelled.filter(([, side]) => side.problems.length > 0).map(([, , label]) => label);
      lines.push(
        wrong.length === 0
          ? `${scenario.id}: every round on every side: no update lost, _version 1 + ${count} x ${writes}`
          : `${scenario.id}: wrong rounds on ${wrong.join(', ')} (see note)`,
      );
    }
  }
  if (rows.some((row) => row.error === undefined)) {
    lines.push(
      `PostgreSQL: ${setup.database ?? 'unknown'}; pool ${setup.poolSize ?? 'the server default (10)'} ` +
        'connections per process; SQLite: WAL, durability normal (no fsync per commit)',
    );
    lines.push(
      `PG x2 and PG x4 run two and four server processes, PostgreSQL and the load generator on the same ` +
        `${setup.cpus ?? '?'} CPUs (load average ${setup.loadAverage ?? '?'} at the start of the run, other work ` +
        'included): they measure what more processes cost or gain here, not scale-out over machines',
    );
  }
  return lines;
}

/**
 * Notes under the table: anything that makes a row untrustworthy. Unlike the main table's, a
 * wrong status here is not presumed a bench bug: the requests are the SQLite rows' own, so a 503 or
 * a request left unanswered on PostgreSQL is the server's doing.
 */
export function formatStoresNotes(rows) {
  const notes = [];
  for (const { scenario, sides, verdict, error } of rows) {
    if (error !== undefined) {
      notes.push(`${scenario.id}: could not run (${error}): no figures`);
      continue;
    }
    for (const [name, side] of Object.entries(sides)) {
      const label = STORE_LABELS[name] ?? name;
      const n = verdict.unexpected[name];
      if (n > 0) {
        notes.push(
          `${scenario.id} ${label}: ${fmtInt(n)} unexpected answers (statuses ${JSON.stringify(side.statusCounts)}, ` +
            `connection errors or no answer within 10 s: ${side.errors + side.timeouts}): the row is not valid`,
        );
      }
      const problems = verdict.problems[name];
      if (problems.length > 0) {
        const more = problems.length > 3 ? `; and ${problems.length - 3} more` : '';
        notes.push(
          `${scenario.id} ${label}: wrong outcome (${problems.slice(0, 3).join('; ')}${more}): the row is not valid`,
        );
      }
    }
  }
  return notes;
}

/** "pgbench -N ...: 1,234 tps ...": the reference, and B1-PG's PG x1 against it. */
function pgbenchLine(pgbench, rows) {
  const { clients, threads, scale, mode } = PGBENCH;
  if (pgbench.skipped !== undefined) return `pgbench -N: not measured: ${pgbench.skipped}`;
  const failed = pgbench.failed === null ? '' : `, ${fmtInt(pgbench.failed)} failed`;
  const window = pgbench.cpuWindow;
  const cpu =
    pgbench.postgresMsPerTransaction === null
      ? 'PostgreSQL CPU not measured (not a cluster of the bench)'
      : `PostgreSQL CPU ${fmtMs(pgbench.postgresMsPerTransaction)} ms per transaction (${fmtInt(window.transactions)} ` +
        `in the ${window.seconds} s ${window.from === 'connected' ? 'after all clients had connected' : 'of the whole run, connections included'})`;
  const versus = rows
    .filter((row) => row.error === undefined && row.verdict.ratios.pg1VsPgbench !== undefined)
    .map(
      (row) =>
        `; ${row.scenario.id} PG x1 / pgbench ${fmtPercent(row.verdict.ratios.pg1VsPgbench)} (asked: >= 100%)`,
    )
    .join('');
  return (
    `pgbench -N (same server, a scratch database at scale ${scale}; ${clients} clients, ${threads} threads, ` +
    `-M ${mode}, ${pgbench.durationSec} s after ${pgbench.warmupSec} s warm-up, before the first row): ` +
    `${fmtInt(pgbench.tps)} transactions/s without connection time (${fmtInt(pgbench.transactions)} ` +
    `transactions${failed}, latency average ${pgbench.latencyAvgMs ?? '?'} ms); ${cpu}${versus}`
  );
}

/**
 * Two lines per row: CPU per request of each side's server processes (summed) and, on PostgreSQL
 * sides, of all of PostgreSQL's processes, over the side's measured slices; then the load
 * generator's CPU per request, how many CPUs the bench's processes kept busy during each side's
 * slices, and what PostgreSQL did during the SQLite side's (requests of its own: none).
 */
function cpuLines(scenario, labelled, cpus) {
  const measured = labelled.filter(([, side]) => side.cpu?.serverMsPerRequest != null);
  if (measured.length === 0) return [];
  const perRequest = measured
    .map(([name, side, label]) => {
      const { cpu } = side;
      const processes = cpu.serverMsByProcess.length;
      const server = `${label} server ${fmtMs(cpu.serverMsPerRequest)} ms${processes > 1 ? ` (${processes} processes)` : ''}`;
      if (!name.startsWith('pg')) return server;
      return cpu.postgresMsPerRequest === null
        ? `${server} + PostgreSQL not measured`
        : `${server} + PostgreSQL ${fmtMs(cpu.postgresMsPerRequest)} ms`;
    })
    .join('; ');
  const loadGenerator = measured
    .map(([, side, label]) => `${label} ${fmtMs(side.cpu.loadGeneratorMsPerRequest)}`)
    .join(', ');
  const busy = measured
    .map(([, side, label]) => {
      const { serverMs, postgresMs, loadGeneratorMs, seconds } = side.cpu;
      return `${label} ${((serverMs + (postgresMs ?? 0) + loadGeneratorMs) / 1000 / seconds).toFixed(2)}`;
    })
    .join(', ');
  const sqlite = measured.find(([name]) => name === 'sqlite')?.[1].cpu;
  const background =
    sqlite && sqlite.postgresMs !== null
      ? `; PostgreSQL during the SQLite slices, with no requests of its own, ${(sqlite.postgresMs / 1000 / sqlite.seconds).toFixed(2)} CPUs`
      : '';
  const unit = scenario.kind === 'writers' ? 'request (retries included)' : 'request';
  const whose = measured.some(([, side]) => side.cpu.postgresMs !== null)
    ? 'the servers, PostgreSQL and the load generator'
    : 'the servers and the load generator (PostgreSQL not measured)';
  return [
    `${scenario.id} CPU per ${unit}: ${perRequest}`,
    `${scenario.id} CPU, more: load generator per request ${loadGenerator} ms; CPUs used in the measured ` +
      `slices by ${whose} together (of ${cpus ?? '?'}): ${busy}${background}`,
  ];
}

/**
 * The `postgres` section of results/latest.json: the run's database and pool, pgbench, and per
 * scenario id what the table shows and every side's full figures (`cpu`: lib/cpu.mjs).
 */
export function storesJson(rows, setup) {
  const round4 = (n) => (n === undefined ? null : Number(n.toFixed(4)));
  const scenarios = rows.map(({ scenario, sides, verdict, error }) => [
    scenario.id,
    error !== undefined
      ? { title: scenario.title, error }
      : {
          title: scenario.title,
          connections: scenario.connections,
          resources: scenario.resources,
          ...(scenario.race && { race: scenario.race }),
          ...(scenario.writers && { writers: scenario.writers }),
          rate: rateOf(scenario),
          ratios: Object.fromEntries(Object.entries(verdict.ratios).map(([k, v]) => [k, round4(v)])),
          valid: verdict.valid,
          unexpectedResponses: verdict.unexpected,
          ...sides,
        },
  ]);
  return {
    database: setup.database ?? null,
    poolSize: setup.poolSize ?? null,
    pgbench: setup.pgbench ?? null,
    scenarios: Object.fromEntries(scenarios),
  };
}

/** "1: 50.2% (61,234), 2: 49.8% (60,750)": each process's share of the answers; undefined for one. */
function shares(byTarget = {}) {
  const entries = Object.entries(byTarget);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  if (entries.length < 2 || total === 0) return undefined;
  return entries.map(([, n], i) => `${i + 1}: ${fmtPercent(n / total)} (${fmtInt(n)})`).join(', ');
}

function rateOf(scenario) {
  return scenario.rate ?? 'requestsPerSec';
}

function fmtPercent(ratio) {
  return ratio === undefined ? 'n/a' : `${(ratio * 100).toFixed(1)}%`;
}

function fmtMs(ms) {
  return ms === null || ms === undefined ? 'n/a' : ms.toFixed(2);
}

function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}
