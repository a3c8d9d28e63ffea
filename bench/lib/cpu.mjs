// CPU time of the processes a side is made of, over its measured slices only. Read from
// /proc/<pid>/stat (utime + stime, in clock ticks of 1/100 s): the server processes of the side
// (every thread: the event loop, libuv's pool, V8's helpers), all of PostgreSQL's processes (the
// postmaster and its children: backends, WAL writer, checkpointer, autovacuum...), and this process,
// the load generator. Slices alternate between the sides (ABBA), so a side's figures are the sum
// of its slices' deltas; nothing between slices (seeding, ETag refreshes, a round's set-up and
// checks) counts.
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** USER_HZ: what /proc/<pid>/stat counts CPU time in (`getconf CLK_TCK`, 100 on Linux). */
const TICKS_PER_SEC = 100;

/**
 * One process's stat fields after the command name: [0] state, [1] ppid, [11] utime, [12] stime,
 * [13] cutime, [14] cstime (fields 3, 4, 14 to 17 of proc(5)). Undefined when it is gone.
 */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds a process has used so far (all its threads), 0 once it is gone. */
export function processCpuSec(pid) {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS_PER_SEC : 0;
}

/** The children of `pid`: from /proc's `children` file where the kernel has it, else by ppid. */
export function childrenOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(' ').map(Number);
  } catch {
    const children = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      if (Number(statFields(name)?.[1]) === pid) children.push(Number(name));
    }
    return children;
  }
}

/**
 * CPU seconds used so far by a PostgreSQL cluster: the postmaster, its live children, and the
 * children it has already reaped (its cutime + cstime). A backend that exits between two readings
 * thus still counts: what it used before the first is in the first reading's live sum, and all it
 * used is in the second's reaped sum.
 */
export function clusterCpuSec(postmasterPid) {
  const f = statFields(postmasterPid);
  if (!f) return 0;
  let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  for (const child of childrenOf(postmasterPid)) {
    const c = statFields(child);
    if (c) ticks += Number(c[11]) + Number(c[12]);
  }
  return ticks / TICKS_PER_SEC;
}

/** CPU seconds this process (the load generator) has used so far, all threads. */
function selfCpuSec() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * A meter for one scenario: `around(name, pids, fn)` runs one measured slice of side `name`
 * (whose server processes are `pids`) and adds the CPU its processes, PostgreSQL's and the load
 * generator used meanwhile to that side's totals. `postmasterPid` undefined: PostgreSQL's CPU is
 * not measured (no cluster of ours, or not on this machine).
 * @param {number | undefined} postmasterPid
 */
export function createCpuMeter(postmasterPid) {
  /** @type {Record<string, { serverSec: number[], postgresSec: number, loadSec: number, wallSec: number }>} */
  const totals = {};
  const read = (pids) => ({
    server: pids.map(processCpuSec),
    postgres: postmasterPid === undefined ? 0 : clusterCpuSec(postmasterPid),
    load: selfCpuSec(),
    wall: performance.now() / 1000,
  });
  return {
    async around(name, pids, fn) {
      const before = read(pids);
      try {
        return await fn();
      } finally {
        const after = read(pids);
        const t = (totals[name] ??= {
          serverSec: pids.map(() => 0),
          postgresSec: 0,
          loadSec: 0,
          wallSec: 0,
        });
        after.server.forEach((sec, i) => (t.serverSec[i] += sec - before.server[i]));
        t.postgresSec += after.postgres - before.postgres;
        t.loadSec += after.load - before.load;
        t.wallSec += after.wall - before.wall;
      }
    },
    /**
     * Side `name`'s CPU over its measured slices, and per request of `requests` (ms).
     * @returns {CpuSummary | undefined}
     */
    summary(name, requests) {
      const t = totals[name];
      if (!t) return undefined;
      const serverSec = t.serverSec.reduce((a, b) => a + b, 0);
      const ms = (sec) => Number((sec * 1000).toFixed(1));
      const perRequest = (sec) => (requests > 0 ? Number(((sec * 1000) / requests).toFixed(4)) : null);
      return {
        requests,
        seconds: Number(t.wallSec.toFixed(2)),
        serverMs: ms(serverSec),
        serverMsByProcess: t.serverSec.map(ms),
        postgresMs: postmasterPid === undefined ? null : ms(t.postgresSec),
        loadGeneratorMs: ms(t.loadSec),
        serverMsPerRequest: perRequest(serverSec),
        postgresMsPerRequest: postmasterPid === undefined ? null : perRequest(t.postgresSec),
        loadGeneratorMsPerRequest: perRequest(t.loadSec),
      };
    },
  };
}

/**
 * @typedef {object} CpuSummary CPU (user + system) over a side's measured slices only
 * @property {number} requests the side's completed requests (M1: requests sent, retries included)
 * @property {number} seconds wall-clock seconds of those slices
 * @property {number} serverMs the side's server processes together
 * @property {number[]} serverMsByProcess each server process
 * @property {number | null} postgresMs every process of the PostgreSQL cluster (null: not measured);
 *   on a SQLite side, what PostgreSQL did meanwhile without being asked (checkpoints, autovacuum)
 * @property {number} loadGeneratorMs the bench's own process (autocannon, M1's writers)
 * @property {number | null} serverMsPerRequest
 * @property {number | null} postgresMsPerRequest
 * @property {number | null} loadGeneratorMsPerRequest
 */
