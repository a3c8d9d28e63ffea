// Judging a scenario against its SPEC 7 target, and printing and saving the results.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Responses other than the expected status, plus errors and timeouts: a bench bug, not a result. */
export function unexpected(side, expectedStatus) {
  let count = side.errors + side.timeouts;
  for (const [code, n] of Object.entries(side.statusCounts)) if (Number(code) !== expectedStatus) count += n;
  return count;
}

/** The verdict of one scenario: throughput ratio and, where the target has one, Truce's p99. */
export function judge(scenario, baseline, truce) {
  const ratio = baseline.requestsPerSec > 0 ? truce.requestsPerSec / baseline.requestsPerSec : 0;
  const { minRatio, maxP99Ms } = scenario.target;
  const ratioMet = ratio >= minRatio;
  const p99Met = maxP99Ms === undefined || truce.latencyMs.p99 <= maxP99Ms;
  const bad = {
    baseline: unexpected(baseline, scenario.expectedStatus.baseline),
    truce: unexpected(truce, scenario.expectedStatus.truce),
  };
  return { ratio, ratioMet, p99Met, met: ratioMet && p99Met, unexpected: bad };
}

export function targetText(target) {
  const ratio = `>= ${Math.round(target.minRatio * 100)}%`;
  return target.maxP99Ms === undefined ? ratio : `${ratio}, p99 <= ${target.maxP99Ms} ms`;
}

/** The one table: a row per scenario. */
export function formatTable(rows) {
  const header = [
    'scenario',
    'baseline req/s',
    'Truce req/s',
    'ratio',
    'Truce p50',
    'Truce p99',
    'target',
    'result',
  ];
  const body = rows.map(({ scenario, baseline, truce, verdict }) => [
    scenario.id,
    fmtInt(baseline.requestsPerSec),
    fmtInt(truce.requestsPerSec),
    `${(verdict.ratio * 100).toFixed(1)}%`,
    `${truce.latencyMs.p50} ms`,
    `${truce.latencyMs.p99} ms`,
    targetText(scenario.target),
    resultText(verdict),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  // Text left, numbers right.
  const right = new Set([1, 2, 3, 4, 5]);
  const line = (cells) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Notes under the table: anything that makes a row untrustworthy. */
export function formatNotes(rows) {
  const notes = [];
  for (const { scenario, baseline, truce, verdict } of rows) {
    for (const [side, result] of [
      ['baseline', baseline],
      ['Truce', truce],
    ]) {
      const n = verdict.unexpected[side === 'Truce' ? 'truce' : 'baseline'];
      if (n > 0) {
        notes.push(
          `${scenario.id} ${side}: ${n} unexpected responses (statuses ${JSON.stringify(result.statusCounts)}, ` +
            `errors ${result.errors}, timeouts ${result.timeouts}): a bench bug, the row is not valid`,
        );
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

function resultText(verdict) {
  if (verdict.unexpected.baseline > 0 || verdict.unexpected.truce > 0) return 'INVALID (see note)';
  return verdict.met ? 'met' : `not met (${failedParts(verdict)})`;
}

function failedParts(verdict) {
  const parts = [];
  if (!verdict.ratioMet) parts.push('ratio');
  if (!verdict.p99Met) parts.push('p99');
  return parts.join(', ');
}

function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}
