// What a scenario is, and the list run.mjs runs, in order. B1 and B2 are SPEC section 7's; U1,
// D1, M1 and I1 are reported next to them without a target of their own. B1-PG, U1-PG, D1-PG and
// M1-PG run B1, U1, D1 and M1 on SQLite and on PostgreSQL with one, two and four processes (issue 5),
// reported in a table of their own.
import { b1 } from './b1-conditional-put.mjs';
import { b2 } from './b2-conditional-get.mjs';
import { b3 } from './b3-sdk-counter.mjs';
import { d1 } from './d1-decrement-race.mjs';
import { i1 } from './i1-idempotent-create.mjs';
import { m1 } from './m1-merge-contention.mjs';
import { b1pg, d1pg, m1pg, u1pg } from './postgres-variants.mjs';
import { u1 } from './u1-unique-create.mjs';

/**
 * @typedef {object} Side a server a scenario measures
 * @property {'baseline' | 'truce'} server servers/baseline.mjs or servers/truce.mjs
 * @property {string} variant the routes (baseline) or the collections (Truce) it starts with
 * @property {string} [label] what the side does, where its name does not say it (M1, I1, whose
 *   `baseline` is Truce too)
 * @property {'postgres'} [store] Truce only: PostgreSQL, in a fresh schema of the run's database
 *   (lib/postgres.mjs), instead of SQLite in a fresh folder
 * @property {number} [processes] PostgreSQL only: how many server processes share the schema
 *   (default 1); the load is spread evenly over them
 */

/**
 * @typedef {object} Scenario
 * @property {string} id e.g. `B1`, as in SPEC section 7
 * @property {string} title
 * @property {'postgres'} [table] the table the row goes in: the PostgreSQL one
 *   (lib/stores-report.mjs), whose sides are `sqlite`, `pg1`, `pg2`, `pg4` and maybe `baseline`;
 *   default the main table
 * @property {true} [vsPgbench] PostgreSQL table only: the row compares PG x1 with the run's
 *   `pgbench -N` transactions per second (B1-PG)
 * @property {'timed' | 'rounds' | 'writers'} [kind] timed slices of load (the default;
 *   lib/measure.mjs), rounds of a fixed number of requests (lib/race.mjs), or rounds of writers
 *   that each loop over their own writes (lib/writers.mjs)
 * @property {'requestsPerSec' | 'commitsPerSec'} [rate] the figure the table shows and the ratio
 *   compares (default requests per second)
 * @property {number} [extraBudgetSec] seconds the run's watchdog allows this scenario beyond
 *   its sides' warm-up and duration (where its rounds last as long as the server needs)
 * @property {number} connections
 * @property {number} resources how many resources are seeded (with the same ids on every side)
 * @property {Record<string, Side>} [sides] default: `baseline` and `truce`, both on `things`.
 *   A `reference` side is a second comparison for Truce, shown next to the baseline's.
 * @property {{ minRatio: number, maxP99Ms?: number } | undefined} target Truce vs baseline
 *   throughput, and Truce's p99; undefined where SPEC 7 sets none (the row is reported only)
 * @property {Record<string, number | number[]>} expectedStatus by side: every response should
 *   have this status (or one of these)
 * @property {{ method: string, headers?: Record<string, string>, body?: string }} [load] request
 *   defaults (timed and rounds)
 * @property {(resources: { id: string, path: string, etag: string }[], side: object) => object[]} [requests]
 *   a fresh autocannon request sequence over resources whose ETags are current (timed; `side`
 *   is the side's state: its `name`, `server` and `resources`), or against the target `prepare`
 *   gave (rounds)
 * @property {(side: object) => Promise<{ checks: string, problems: string[] } | undefined>} [verify]
 *   timed only: checks a side once its load is measured (undefined: nothing to check on that
 *   side); `checks` says what was checked, and any problem makes the row invalid
 * @property {{ stock: number, requests: number }} [race] rounds only: the race each round runs
 * @property {(baseUrl: string, round: number) => Promise<object>} [prepare]
 *   rounds and writers: sets up a fresh target for the round
 * @property {(baseUrl: string, target: object, countsOrWrites: any) => Promise<any>} [outcome]
 *   what a round left behind; any problem makes the row invalid. Rounds: given the answers'
 *   status counts, resolves with `{ succeeded, insufficient, finalStock, problems }`; writers:
 *   given the writes per writer of the round, resolves with the problems found
 * @property {{ count: number, writes: number, warmupWrites: number, maxAttempts: number }} [writers]
 *   writers only: how many writers, each with how many writes per round (measured, warm-up),
 *   and the attempts after which a write that has not landed is a problem
 * @property {(side: string, target: object, writer: number, n: number) =>
 *   { method: string, path: string, headers: Record<string, string>, body?: string }} [attempt]
 *   writers only: the next request of a writer's n-th write (n from 1)
 * @property {(side: string, target: object, writer: number, n: number, sent: object,
 *   answer: import('../lib/client.mjs').Answer) =>
 *   { landed?: true, retry?: true, afterMs?: number, problem?: string }} [settle]
 *   writers only: what an answer means (`afterMs`: wait that long before the retry); a problem
 *   stops that writer and makes the row invalid
 */

/** @type {Scenario[]} */
export const scenarios = [b1, b2, b3, u1, d1, m1, i1, b1pg, u1pg, d1pg, m1pg];
