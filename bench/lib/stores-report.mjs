// The PostgreSQL table: a row per scenario (B1-PG, U1-PG, D1-PG, M1-PG), a column per store:
// Truce on SQLite, on PostgreSQL with one process and with two, and, for B1, the bare Fastify
// baseline of the same run. Ratios compare the stores with each other; nothing is judged against a
// target, but a side with unexpected answers or a wrong outcome makes its row INVALID, as in the
// main table, and a note says what happened.
import { STORE_LABELS } from '../scenarios/postgres-variants.mjs';
import { unexpected } from './report.mjs';

/** Like report.mjs's judge, without a baseline or a target: is every side's outcome as expected? */
export function judgeStores(scenario, sides) {
  const bad = {};
  const problems = {};
  for (const [name, side] of Object.entries(sides)) {
    bad[name] = unexpected(side, scenario.expectedStatus[name]);
    problems[name] = side.problems ?? [];
  }
  const valid =
    Object.values(bad).every((n) => n === 0) && Object.values(problems).every((p) => p.length === 0);
  return { ratios: ratios(scenario, sides), met: null, valid, unexpected: bad, problems };
}

/** PG x1 and PG x2 against SQLite, and two processes against one. */
function ratios(scenario, sides) {
  const rate = rateOf(scenario);
  const of = (a, b) =>
    sides[a] && sides[b] && sides[b][rate] > 0 ? sides[a][rate] / sides[b][rate] : undefined;
  return { pg1VsSqlite: of('pg1', 'sqlite'), pg2VsSqlite: of('pg2', 'sqlite'), pg2VsPg1: of('pg2', 'pg1') };
}

/** The table, or an empty string without PostgreSQL rows. */
export function formatStoresTable(rows) {
  if (rows.length === 0) return '';
  const names = Object.keys(STORE_LABELS);
  const header = [
    'scenario',
    'unit',
    ...names.map((name) => STORE_LABELS[name]),
    'PG x1 / SQLite',
    'PG x2 / SQLite',
    'PG x2 / PG x1',
    'p50 SQLite | PG x1 | PG x2',
    'p99 SQLite | PG x1 | PG x2',
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
      `${['sqlite', 'pg1', 'pg2'].map((name) => (sides[name] ? Math.round(sides[name].latencyMs[p]) : '-')).join(' | ')} ms`;
    return [
      scenario.id,
      rate === 'commitsPerSec' ? 'commits/s' : 'req/s',
      ...names.map((name) => (sides[name] ? fmtInt(sides[name][rate]) : 'n/a')),
      fmtPercent(verdict.ratios.pg1VsSqlite),
      fmtPercent(verdict.ratios.pg2VsSqlite),
      fmtPercent(verdict.ratios.pg2VsPg1),
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
 * Lines under the table: how the two processes shared the load, how D1's races and M1's writers
 * ended, and what the run's database and pool were.
 * @param {{ database?: string, poolSize?: number }} setup
 */
export function formatStoresDetails(rows, setup) {
  const lines = [];
  for (const { scenario, sides, error } of rows) {
    if (error !== undefined) continue;
    const labelled = Object.keys(sides).map((name) => [name, sides[name], STORE_LABELS[name] ?? name]);
    const split = sides.pg2 && shares(sides.pg2.byTarget);
    if (split) lines.push(`${scenario.id} PG x2: answers per process ${split}`);
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
      'PG x2 runs two server processes, PostgreSQL and the load generator on the same CPUs: ' +
        'CPU-bound, it measures what a second process costs or gains here, not scale-out',
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

/**
 * The `postgres` section of results/latest.json: the run's database and pool, and per scenario id
 * what the table shows and every side's full figures.
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

function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}
