// Judging a scenario against its SPEC 7 target, and printing and saving the results.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Responses other than the expected status (or statuses), plus errors and timeouts: a bench bug,
 * not a result.
 */
export function unexpected(side, expectedStatus) {
  const expected = [expectedStatus].flat();
  let count = side.errors + side.timeouts;
  for (const [code, n] of Object.entries(side.statusCounts)) if (!expected.includes(Number(code))) count += n;
  return count;
}

/**
 * The verdict of one scenario: throughput ratio to the baseline (and to the reference, where there
 * is one), and, where the scenario has a target, whether it is met. `met` is null without one.
 * @param {import('../scenarios/scenario.mjs').Scenario} scenario
 * @param {Record<string, import('./load.mjs').LoadSummary & { problems?: string[] }>} sides by side name
 */
export function judge(scenario, sides) {
  const { baseline, truce, reference } = sides;
  const rate = rateOf(scenario);
  const ratio = ratioOf(truce, baseline, rate);
  const vsReference = reference === undefined ? undefined : ratioOf(truce, reference, rate);
  const bad = {};
  const problems = {};
  for (const [name, side] of Object.entries(sides)) {
    bad[name] = unexpected(side, scenario.expectedStatus[name]);
    problems[name] = side.problems ?? [];
  }
  const valid =
    Object.values(bad).every((n) => n === 0) && Object.values(problems).every((p) => p.length === 0);
  if (scenario.target === undefined) {
    return { ratio, vsReference, ratioMet: null, p99Met: null, met: null, valid, unexpected: bad, problems };
  }
  const { minRatio, maxP99Ms } = scenario.target;
  const ratioMet = ratio >= minRatio;
  const p99Met = maxP99Ms === undefined || truce.latencyMs.p99 <= maxP99Ms;
  return { ratio, vsReference, ratioMet, p99Met, met: ratioMet && p99Met, valid, unexpected: bad, problems };
}

export function targetText(target) {
  if (target === undefined) return 'none (reported)';
  const ratio = `>= ${Math.round(target.minRatio * 100)}%`;
  return target.maxP99Ms === undefined ? ratio : `${ratio}, p99 <= ${target.maxP99Ms} ms`;
}

/** The one table: a row per scenario. */
export function formatTable(rows) {
  const header = [
    'scenario',
    'baseline /s',
    'Truce /s',
    'ratio',
    'reference /s',
    'vs reference',
    'Truce p50',
    'Truce p99',
    'target',
    'result',
  ];
  const body = rows.map((row) =>
    row.error !== undefined ? errorRow(row.scenario, header.length) : cells(row),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  // Text left, numbers right.
  const right = new Set([1, 2, 3, 4, 5, 6, 7]);
  const line = (cells) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Lines under the table on what a row compares and checked, for the rows that need them. */
export function formatDetails(rows) {
  const details = [];
  for (const { scenario, sides, error } of rows) {
    if (error !== undefined) continue;
    const { reference, truce, baseline } = sides;
    if (scenario.kind === 'writers') details.push(...writersDetails(scenario, sides));
    if (scenario.verify !== undefined) {
      details.push(
        `${scenario.id}: ${labelOf(sides, 'baseline')} p50 ${baseline.latencyMs.p50} ms, p99 ${baseline.latencyMs.p99} ms; ` +
          `replay check: ${truce.problems?.length === 0 ? truce.checks : 'FAILED (see note)'}`,
      );
    }
    if (scenario.id === 'B3') details.push(...incrementVersusB1(rows, truce, sides.node));
    if (reference !== undefined) {
      details.push(
        `${scenario.id} reference: the same requests to the same collection without its unique constraints ` +
          `(own server and database): p50 ${reference.latencyMs.p50} ms, p99 ${reference.latencyMs.p99} ms`,
      );
    }
    if (scenario.race !== undefined && truce.rounds !== undefined) {
      const { stock, requests } = scenario.race;
      const each = `${fmtInt(stock)} succeeded, ${fmtInt(requests - stock)} got 409 insufficient, final stock 0`;
      const wrong = {
        baseline: wrongRounds(baseline, stock, requests),
        truce: wrongRounds(truce, stock, requests),
      };
      const outcome =
        wrong.baseline === 0 && wrong.truce === 0
          ? `every round on both sides: ${each}`
          : `wrong rounds (see note): Truce ${wrong.truce} of ${truce.rounds.length}, ` +
            `baseline ${wrong.baseline} of ${baseline.rounds.length}; the others: ${each}`;
      details.push(
        `${scenario.id}: ${truce.rounds.length} rounds per side (Truce ${truce.durationSec} s, ` +
          `baseline ${baseline.durationSec} s) of stock ${fmtInt(stock)} and ${fmtInt(requests)} ` +
          `decrements at once; ${outcome}`,
      );
    }
  }
  return details;
}

/**
 * Issue 10 item 23 compares B3's `_increment` side with B1's Truce side of the same run (keyed SDK
 * increments of one counter against conditional PUTs from autocannon): the share, when B1 ran too.
 */
function incrementVersusB1(rows, increments, overNode) {
  const b1 = rows.find((row) => row.scenario.id === 'B1' && row.error === undefined)?.sides.truce;
  if (b1 === undefined || !(b1.requestsPerSec > 0)) return [];
  const share = (perSec) => `${((100 * perSec) / b1.requestsPerSec).toFixed(1)}%`;
  const line = (label, side) =>
    `B3 ${label} against B1 Truce in this run (issue 10 item 23: >= 40%): ` +
    `${share(side.commitsPerSec)} (${fmtInt(side.commitsPerSec)} / ${fmtInt(Math.round(b1.requestsPerSec))}); ` +
    `median round ${share(side.medianRoundPerSec)}`;
  return [
    line('_increment (Node fetch)', increments),
    ...(overNode ? [line('_increment (@truce/client-node)', overNode)] : []),
  ];
}

/** Notes under the table: anything that makes a row untrustworthy. */
export function formatNotes(rows) {
  const notes = [];
  for (const { scenario, sides, verdict, error } of rows) {
    if (error !== undefined) {
      notes.push(`${scenario.id}: could not run (${error}): a bench or server failure, no figures`);
      continue;
    }
    for (const [name, result] of Object.entries(sides)) {
      const label = labelOf(sides, name);
      const n = verdict.unexpected[name];
      if (n > 0) {
        notes.push(
          `${scenario.id} ${label}: ${n} unexpected responses (statuses ${JSON.stringify(result.statusCounts)}, ` +
            `errors ${result.errors}, timeouts ${result.timeouts}): a bench bug, the row is not valid`,
        );
      }
      const problems = verdict.problems[name];
      if (problems.length > 0) {
        // Past the load generator's own errors, a wrong race outcome is the server's doing.
        const shown = problems.slice(0, 3).join('; ');
        const more = problems.length > 3 ? `; and ${problems.length - 3} more` : '';
        notes.push(`${scenario.id} ${label}: wrong outcome (${shown}${more}): the row is not valid`);
      }
    }
  }
  return notes;
}

/**
 * Writes `data` as JSON. The repository's `prettier --check .` also reads bench/results/, so the
 * file is formatted with the workspace's Prettier when it is installed.
 */
export async function writeJson(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  let text = `${JSON.stringify(data, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    text = await prettier.format(text, { ...(await prettier.resolveConfig(path)), filepath: path });
  } catch {
    // Prettier is a development tool of the workspace, not a need of the bench.
  }
  writeFileSync(path, text);
}

function cells({ scenario, sides, verdict }) {
  const rate = rateOf(scenario);
  return [
    scenario.id,
    fmtInt(sides.baseline[rate]),
    fmtInt(sides.truce[rate]),
    fmtPercent(verdict.ratio),
    sides.reference === undefined ? 'n/a' : fmtInt(sides.reference[rate]),
    verdict.vsReference === undefined ? 'n/a' : fmtPercent(verdict.vsReference),
    fmtMs(sides.truce.latencyMs.p50),
    fmtMs(sides.truce.latencyMs.p99),
    targetText(scenario.target),
    resultText(verdict),
  ];
}

/** A scenario that threw: no figures, only its target and the pointer to the note. */
function errorRow(scenario, columns) {
  const cells = Array.from({ length: columns }, () => '-');
  cells[0] = scenario.id;
  cells[columns - 2] = targetText(scenario.target);
  cells[columns - 1] = 'ERROR (see note)';
  return cells;
}

function resultText(verdict) {
  if (!verdict.valid) return 'INVALID (see note)';
  if (verdict.met === null) return 'reported';
  return verdict.met ? 'met' : `not met (${failedParts(verdict)})`;
}

function failedParts(verdict) {
  const parts = [];
  if (!verdict.ratioMet) parts.push('ratio');
  if (!verdict.p99Met) parts.push('p99');
  return parts.join(', ');
}

/** How many measured rounds of a side did not end exactly as the race must. */
function wrongRounds(side, stock, requests) {
  return side.rounds.filter(
    (r) => r.succeeded !== stock || r.insufficient !== requests - stock || r.finalStock !== 0,
  ).length;
}

/**
 * A writers scenario's lines: what a round is, each side's requests, conflicts and write latency,
 * and how the rounds ended.
 */
function writersDetails(scenario, sides) {
  const { count, writes } = scenario.writers;
  const names = Object.keys(sides);
  const rounds = names.map((name) => `${labelOf(sides, name)} ${sides[name].rounds.length}`).join(', ');
  const lines = [
    `${scenario.id}: commits per second; a round is ${count} writers x ${writes} writes of their own field ` +
      `of one fresh document, one request at a time each; rounds per side: ${rounds}`,
  ];
  for (const name of names) {
    const side = sides[name];
    lines.push(
      `${scenario.id} ${labelOf(sides, name)}: ${fmtInt(side.commits)} commits in ${fmtInt(side.requests)} requests ` +
        `(${fmtInt(side.requestsPerSec)} req/s, ${fmtPercent(side.conflictShare)} conflicted), ` +
        `write p50 ${fmtMs(side.latencyMs.p50)}, p99 ${fmtMs(side.latencyMs.p99)} (first attempt to landing)`,
    );
  }
  const wrong = names.filter((name) => sides[name].problems.length > 0);
  lines.push(
    wrong.length === 0
      ? `${scenario.id}: every round on every side: no update lost (checked on every answer and on the ` +
          `final document), _version 1 + ${count} x ${writes}`
      : `${scenario.id}: wrong rounds (see note) on ${wrong.map((name) => labelOf(sides, name)).join(', ')}`,
  );
  return lines;
}

function rateOf(scenario) {
  return scenario.rate ?? 'requestsPerSec';
}

/** A side as the table's notes name it: its label where the scenario gives one. */
function labelOf(sides, name) {
  return sides[name].label ?? (name === 'truce' ? 'Truce' : name);
}

function ratioOf(side, other, rate) {
  return other[rate] > 0 ? side[rate] / other[rate] : 0;
}

function fmtPercent(ratio) {
  return `${(ratio * 100).toFixed(1)}%`;
}

/** Whole milliseconds, as autocannon records them (M1's exact figures are rounded here only). */
function fmtMs(ms) {
  return `${Math.round(ms)} ms`;
}

function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}
