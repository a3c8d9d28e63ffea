// The PostgreSQL rows (issue 5): B1 and the contention scenarios (U1, D1, M1) again, each with
// four Truce sides that differ only in where the data lives and how many processes serve it:
//
// - `sqlite`: one process, SQLite on a file, exactly the Truce side of the SQLite row;
// - `pg1`: one process on PostgreSQL (a fresh schema of the run's database);
// - `pg2`, `pg4`: two and four processes on one fresh schema each, the load spread evenly over
//   them: autocannon opens connection i to process i mod n, M1's writer w talks to process w mod n.
//
// The requests, their checks and the collections are the original scenario's, unchanged; B1-PG
// also measures the bare Fastify baseline, so the run has its own yardstick, and is compared with
// `pgbench -N` on the same cluster (lib/pgbench.mjs, once per run). The rows go in a table of their
// own (lib/stores-report.mjs), one column per side.
import { b1 } from './b1-conditional-put.mjs';
import { d1 } from './d1-decrement-race.mjs';
import { m1 } from './m1-merge-contention.mjs';
import { u1 } from './u1-unique-create.mjs';

/** Column order of the table, and what each side is called there. */
export const STORE_LABELS = {
  baseline: 'Fastify',
  sqlite: 'SQLite',
  pg1: 'PG x1',
  pg2: 'PG x2',
  pg4: 'PG x4',
};

/** Starting a cluster and seeding over PostgreSQL take longer than on SQLite; so do M1's rounds. */
const EXTRA_BUDGET_SEC = 60;

/**
 * The PostgreSQL variant of `base`, with id `${base.id}-PG`: every side copies the base's `truce`
 * side (M1: Truce-Base), its server, collection and requests; `baseline` adds the base's Fastify
 * side too, and `pgbench` compares PG x1 with the run's `pgbench -N` transactions per second.
 * @param {import('./scenario.mjs').Scenario} base
 * @param {{ baseline?: boolean, pgbench?: boolean, title: string }} options
 * @returns {import('./scenario.mjs').Scenario}
 */
function onPostgres(base, { baseline = false, pgbench = false, title }) {
  const truce = base.sides?.truce ?? { server: 'truce', variant: 'things' };
  const sides = {
    ...(baseline && { baseline: { ...(base.sides?.baseline ?? { server: 'baseline', variant: 'things' }) } }),
    sqlite: { ...truce, label: STORE_LABELS.sqlite },
    pg1: { ...truce, label: STORE_LABELS.pg1, store: 'postgres', processes: 1 },
    pg2: { ...truce, label: STORE_LABELS.pg2, store: 'postgres', processes: 2 },
    pg4: { ...truce, label: STORE_LABELS.pg4, store: 'postgres', processes: 4 },
  };
  if (sides.baseline) sides.baseline.label = STORE_LABELS.baseline;
  // The base scenario's hooks know its own side names only.
  const baseSide = (name) => (name === 'baseline' ? 'baseline' : 'truce');
  const sideHook = (hook) => hook && ((side, ...rest) => hook(baseSide(side), ...rest));
  return {
    ...base,
    id: `${base.id}-PG`,
    title,
    table: 'postgres',
    ...(pgbench && { vsPgbench: true }),
    target: undefined,
    extraBudgetSec: (base.extraBudgetSec ?? 0) * 2 + EXTRA_BUDGET_SEC,
    sides,
    expectedStatus: Object.fromEntries(
      Object.keys(sides).map((name) => [name, base.expectedStatus[baseSide(name)]]),
    ),
    ...(base.attempt && { attempt: sideHook(base.attempt) }),
    ...(base.settle && { settle: sideHook(base.settle) }),
  };
}

export const b1pg = onPostgres(b1, {
  baseline: true,
  pgbench: true,
  title: 'B1 conditional PUT, distinct resources: SQLite, PostgreSQL x1, x2, x4 processes',
});
export const u1pg = onPostgres(u1, {
  title: 'U1 unique-constraint creates: SQLite, PostgreSQL x1, x2, x4 processes',
});
export const d1pg = onPostgres(d1, {
  title: 'D1 decrements race: SQLite, PostgreSQL x1, x2, x4 processes',
});
/**
 * M1's Truce-Base writers, which here also do what a client should on a 503 `busy` (the server
 * gave up after losing the race for the document too many times, and wrote nothing): wait for
 * Retry-After, then send the same write again. SQLite never answers it; PostgreSQL does under this
 * contention, and without the retry a writer would stop at its first 503 and the round would
 * measure nothing. Rounds are shorter than M1's (64 writers x 10 writes, not 25), as PostgreSQL
 * lands these writes several times slower: two rounds per side still take minutes.
 */
export const m1pg = withBusyRetry({
  ...onPostgres(m1, {
    title:
      'M1 merging under contention (64 writers x 10, Truce-Base, 503 busy retried): SQLite, PostgreSQL x1, x2, x4',
  }),
  writers: { ...m1.writers, writes: 10, warmupWrites: 2 },
});

/** The longest Retry-After a writer waits; the server sends 1 s. */
const MAX_RETRY_AFTER_MS = 5_000;

function withBusyRetry(scenario) {
  const { settle } = scenario;
  return {
    ...scenario,
    expectedStatus: Object.fromEntries(
      Object.entries(scenario.expectedStatus).map(([name, status]) => [name, [status, 503].flat()]),
    ),
    settle(side, doc, w, n, sent, answer) {
      if (answer.status !== 503 || problemCode(answer.body) !== 'busy')
        return settle(side, doc, w, n, sent, answer);
      const seconds = Number(answer.headers['retry-after']);
      const afterMs =
        Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS) : 1000;
      return { retry: true, afterMs };
    },
  };
}

function problemCode(text) {
  try {
    return JSON.parse(text).code;
  } catch {
    return undefined;
  }
}
