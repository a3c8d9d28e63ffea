// The physical reference of the PostgreSQL rows: `pgbench -N` (the built-in "simple update": per
// transaction an UPDATE of pgbench_accounts, a SELECT and an INSERT into pgbench_history, between
// BEGIN and END) against the run's own database server, once per run, before the first PostgreSQL
// row. It runs in a scratch database created for it (`pgbench -i -s 1`: 100,000 accounts) and
// dropped afterwards, so it never touches Truce's schemas, with the server's settings as they are
// (durable defaults on the throwaway cluster; nothing is changed per session either). 64 clients,
// 2 threads, prepared statements, BENCH_DURATION seconds, after BENCH_WARMUP seconds of the same
// unmeasured. Its transactions per second (without the initial connection time) are what B1-PG's
// PG x1 is held against. The CPU the cluster used gives a per-transaction figure to set beside
// Truce's PostgreSQL CPU per request: like the tps, it leaves out the connections' start (64 new
// backends, which Truce's pools do not pay per slice): it is read once all 64 backends are there,
// and again when pgbench has ended, and divided by the rows pgbench_history gained in between (one
// per -N transaction).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { childrenOf, clusterCpuSec } from './cpu.mjs';
import { benchDatabase, benchPostmasterPid, pg } from './postgres.mjs';

export const PGBENCH = { clients: 64, threads: 2, scale: 1, mode: 'prepared' };

/**
 * @typedef {object} PgbenchResult
 * @property {string} [skipped] why pgbench was not measured (then nothing else is set)
 * @property {string} command the measured command line (connection left out)
 * @property {number} tps transactions per second, without the initial connection time
 * @property {number} transactions transactions processed
 * @property {number | null} failed failed transactions, where pgbench reports them
 * @property {number | null} latencyAvgMs
 * @property {number | null} connectionMs initial connection time
 * @property {number} durationSec
 * @property {number} warmupSec
 * @property {{ seconds: number, transactions: number, postgresMs: number, from: string } | null} cpuWindow
 *   where the CPU was read: from all clients connected (`from: 'connected'`; `'start'` if that was
 *   not seen, then the connections' start counts) to pgbench's end, how many transactions landed
 *   meanwhile and the CPU all of the cluster's processes used; null for a TRUCE_BENCH_PG_URL server
 * @property {number | null} postgresMsPerTransaction cpuWindow's CPU over its transactions
 */

/**
 * Runs pgbench as described above. Never throws: anything that stops it is returned as `skipped`
 * and said under the table; the Truce rows do not depend on it.
 * @param {{ durationSec: number, warmupSec: number }} settings
 * @param {(message: string) => void} progress
 * @returns {Promise<PgbenchResult>}
 */
export async function measurePgbench(settings, progress) {
  let database;
  try {
    database = await benchDatabase((line) => progress(line));
  } catch (error) {
    return { skipped: `no database (${message(error)})` };
  }
  const bin = pgbenchBinary(database.binDir);
  if (!bin) {
    return {
      skipped: `no pgbench next to PostgreSQL's binaries (${database.binDir ?? 'none found'}) or on PATH`,
    };
  }
  const name = `truce_pgbench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: database.url });
  try {
    await admin.connect();
  } catch (error) {
    return { skipped: `could not connect (${message(error)})` };
  }
  try {
    try {
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
    } catch (error) {
      return { skipped: `creating a scratch database was refused (${message(error)})` };
    }
    try {
      return await runAll(bin, connection(database.url, name), name, settings, progress);
    } catch (error) {
      return { skipped: message(error) };
    } finally {
      await dropScratch(admin, name).catch((error) =>
        progress(`pgbench: could not drop its scratch database ${name}: ${message(error)}`),
      );
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** pgbench has exited, but its backends may still be on their way out: FORCE (13 and later). */
async function dropScratch(admin, name) {
  const version = Number((await admin.query('SHOW server_version_num')).rows[0].server_version_num);
  const force = version >= 130000 ? ' WITH (FORCE)' : '';
  await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)}${force}`);
}

async function runAll(bin, conn, name, settings, progress) {
  const { clients, threads, scale, mode } = PGBENCH;
  progress(`pgbench: -i -s ${scale} in a scratch database`);
  await pgbench(bin, ['-i', '-s', String(scale), '-q'], conn);
  const run = (seconds) => [
    '-N',
    '-c',
    String(clients),
    '-j',
    String(threads),
    '-T',
    String(seconds),
    '-M',
    mode,
  ];
  // -T takes whole seconds.
  const warmupSec = settings.warmupSec > 0 ? Math.max(1, Math.round(settings.warmupSec)) : 0;
  if (warmupSec > 0) {
    progress(`pgbench: warm-up ${warmupSec} s`);
    await pgbench(bin, run(warmupSec), conn);
  }
  progress(`pgbench: -N -c ${clients} -j ${threads} -T ${settings.durationSec} -M ${mode}`);
  const postmaster = await benchPostmasterPid();
  const output =
    postmaster === undefined
      ? await pgbench(bin, run(settings.durationSec), conn)
      : await withCpuWindow(postmaster, conn, name, () => pgbench(bin, run(settings.durationSec), conn));
  const cpuWindow = typeof output === 'string' ? null : output.window;
  const text = typeof output === 'string' ? output : output.output;
  const number = (pattern) => {
    const found = pattern.exec(text);
    return found ? Number(found[1]) : null;
  };
  const tps = number(/^tps = ([\d.]+) \(without initial connection time\)/m);
  const transactions = number(/^number of transactions actually processed: (\d+)/m);
  if (tps === null || transactions === null) throw new Error(`could not read pgbench's output: ${text}`);
  const result = {
    command: `pgbench ${run(settings.durationSec).join(' ')}`,
    tps: Number(tps.toFixed(1)),
    transactions,
    failed: number(/^number of failed transactions: (\d+)/m),
    latencyAvgMs: number(/^latency average = ([\d.]+) ms/m),
    connectionMs: number(/^initial connection time = ([\d.]+) ms/m),
    durationSec: settings.durationSec,
    warmupSec,
    cpuWindow,
    postgresMsPerTransaction:
      cpuWindow === null || cpuWindow.transactions === 0
        ? null
        : Number((cpuWindow.postgresMs / cpuWindow.transactions).toFixed(4)),
  };
  progress(
    `pgbench: ${result.tps} tps (without initial connection time), ${transactions} transactions, ` +
      `latency average ${result.latencyAvgMs} ms`,
  );
  return result;
}

/**
 * Runs `start` (pgbench) and reads the cluster's CPU and pgbench_history's rows once all its
 * clients' backends exist (64 children of the postmaster that were not there before, connected to
 * the scratch database `name` as their process titles say), and again when it has ended. If they never all show up (pgbench failed, or the machine is too slow to
 * connect them within the run), the first reading is the one taken before pgbench started.
 */
async function withCpuWindow(postmaster, conn, name, start) {
  const scratch = new pg.Client({ connectionString: conn.uri, password: conn.env.PGPASSWORD });
  await scratch.connect();
  try {
    const read = async () => ({
      cpuSec: clusterCpuSec(postmaster),
      at: performance.now(),
      rows: Number((await scratch.query('SELECT count(*) AS n FROM pgbench_history')).rows[0].n),
    });
    const old = new Set(childrenOf(postmaster));
    const before = await read();
    let ended = false;
    const running = start().finally(() => (ended = true));
    running.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    let from = 'start';
    let first = before;
    while (!ended) {
      const backends = childrenOf(postmaster).filter((pid) => !old.has(pid) && titleOf(pid).includes(name));
      if (backends.length >= PGBENCH.clients) {
        first = await read();
        from = 'connected';
        break;
      }
      await delay(5);
    }
    const output = await running;
    const last = await read();
    return {
      output,
      window: {
        seconds: Number(((last.at - first.at) / 1000).toFixed(2)),
        transactions: last.rows - first.rows,
        postgresMs: Number(((last.cpuSec - first.cpuSec) * 1000).toFixed(1)),
        from,
      },
    };
  } finally {
    await scratch.end().catch(() => undefined);
  }
}

/** A process's title ("postgres: postgres <database> 127.0.0.1(port) idle" for a backend), or ''. */
function titleOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** pgbench next to the server binaries, else on PATH; undefined when there is none. */
function pgbenchBinary(binDir) {
  const dirs = [binDir, ...(process.env.PATH ?? '').split(delimiter)].filter(Boolean);
  for (const dir of dirs) {
    try {
      accessSync(join(dir, 'pgbench'), constants.X_OK);
      return join(dir, 'pgbench');
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * How pgbench reaches the scratch database: the run's URL with the database replaced, as its DBNAME
 * argument (libpq expands a URI there), and the password, if any, in PGPASSWORD rather than on the
 * command line.
 */
function connection(url, name) {
  const target = new URL(url);
  target.pathname = `/${encodeURIComponent(name)}`;
  const password = decodeURIComponent(target.password);
  target.password = '';
  return { uri: target.toString(), env: password === '' ? {} : { PGPASSWORD: password } };
}

/**
 * Runs pgbench and resolves with its output (stdout and stderr), or rejects with its last line. It
 * is killed if the bench exits first (watchdog, Ctrl-C).
 */
function pgbench(bin, args, { uri, env }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...args, uri], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const kill = () => child.kill('SIGKILL');
    process.on('exit', kill);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', (error) => {
      process.off('exit', kill);
      reject(error);
    });
    child.once('close', (code, signal) => {
      process.off('exit', kill);
      if (code === 0) resolve(output);
      else {
        const last = output.trim().split('\n').at(-1) ?? '';
        reject(new Error(`pgbench ${args.join(' ')} failed (${signal ?? code}): ${last}`));
      }
    });
  });
}

function message(error) {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}
