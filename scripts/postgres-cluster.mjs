#!/usr/bin/env node
// Throwaway PostgreSQL clusters for the test suite and the benchmarks: initdb into a fresh temporary
// folder, start on a free loopback port, create the `truce` database, and remove it all again.
// PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user.
// A cluster is stopped by stop(), and also when the process that started it exits or is
// interrupted; one left behind by a killed process is removed by the next start.
//
// Run directly (`node scripts/postgres-cluster.mjs [-c name=value ...]`) it prints the URL and keeps
// the cluster until Ctrl-C or SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';

import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { freePort, isExecutable, isRoot, isRunning, noLog, stopOnExit } from './services.mjs';

const DEBIAN_ROOT = '/usr/lib/postgresql';
const SERVER_TOOLS = ['initdb', 'pg_ctl', 'postgres'];
const DIR_PREFIX = 'truce-pg-';
const OWNER_FILE = 'owner.pid';
/** Written before `apt-get install` so Debian does not create and start its own `main` cluster. */
const CREATECLUSTER_CONF = '/etc/postgresql-common/createcluster.conf';
/** Many test stores run in parallel, each with its own pool. */
const DEFAULT_SETTINGS = { max_connections: 300 };
const START_ATTEMPTS = 3;
/** How long restart() waits for a killed postmaster's process to be reaped. */
const REAP_WAIT_MS = 20_000;

const hasServerTools = (dir) => SERVER_TOOLS.every((tool) => isExecutable(join(dir, tool)));

/** Debian's /usr/lib/postgresql/<major>/bin, highest major first, then PATH (other systems). */
function searchBinDir() {
  const majors = existsSync(DEBIAN_ROOT)
    ? readdirSync(DEBIAN_ROOT)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const candidates = [
    ...majors.map((major) => join(DEBIAN_ROOT, major, 'bin')),
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean),
  ];
  return candidates.find(hasServerTools) ?? null;
}

/**
 * Runs a command and collects its output (stdout and stderr together). With `asPostgres`, a root
 * process runs it as the `postgres` user, in `cwd` (a folder that user can enter).
 */
function run(command, args, { asPostgres = false, cwd, env } = {}) {
  const [file, argv] =
    asPostgres && isRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  return new Promise((done) => {
    const child = spawn(file, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', (error) => done({ code: -1, output: error.message }));
    child.once('close', (code) => done({ code: code ?? -1, output }));
  });
}

function runSync(command, args, { asPostgres = false, cwd } = {}) {
  const [file, argv] =
    asPostgres && isRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  return spawnSync(file, argv, { cwd, stdio: 'ignore', timeout: 20_000 }).status === 0;
}

const tail = (text, chars = 1500) => text.trim().slice(-chars);

/**
 * Installs PostgreSQL with apt-get (root only) without letting Debian create and start its default
 * `main` cluster. Throws with apt-get's output when the install fails.
 * @param {{ log?: (message: string) => void }} [options]
 */
export async function installPostgres({ log = noLog } = {}) {
  if (!existsSync(CREATECLUSTER_CONF)) {
    mkdirSync('/etc/postgresql-common', { recursive: true });
    writeFileSync(
      CREATECLUSTER_CONF,
      '# Written by the Truce test setup: the tests start their own throwaway clusters.\ncreate_main_cluster = false\n',
    );
    log(`wrote ${CREATECLUSTER_CONF} (create_main_cluster = false)`);
  }
  // postgresql-common installs createcluster.conf through ucf: keep ours instead of asking.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', UCF_FORCE_CONFFOLD: '1' };
  const install = ['install', '-y', '--no-install-recommends', 'postgresql'];
  log('installing PostgreSQL: apt-get install -y postgresql (this can take a minute)');
  let result = await run('apt-get', install, { env });
  if (result.code !== 0) {
    // Fresh machines and containers often have no package lists yet.
    log('apt-get install failed; running apt-get update and trying again');
    await run('apt-get', ['update'], { env });
    result = await run('apt-get', install, { env });
  }
  if (result.code !== 0) throw new Error(`apt-get install -y postgresql failed:\n${tail(result.output)}`);
  log('PostgreSQL installed');
}

/**
 * Finds PostgreSQL's server binaries (initdb, pg_ctl, postgres) and says why when it cannot.
 * `TRUCE_PG_BIN_DIR` pins the folder (nothing else is searched or installed). Otherwise the highest
 * /usr/lib/postgresql/<major>/bin wins, then PATH; with `install`, a root process that has apt-get
 * installs PostgreSQL first when none is found.
 * @param {{ install?: boolean, log?: (message: string) => void }} [options]
 * @returns {Promise<{ binDir: string, reason: null } | { binDir: null, reason: string }>}
 */
export async function locatePostgresBin({ install = false, log = noLog } = {}) {
  const pinned = process.env.TRUCE_PG_BIN_DIR;
  if (pinned) {
    if (hasServerTools(pinned)) return { binDir: pinned, reason: null };
    return { binDir: null, reason: `TRUCE_PG_BIN_DIR=${pinned} holds no initdb, pg_ctl and postgres` };
  }
  const found = searchBinDir();
  if (found) return { binDir: found, reason: null };
  const missing = `no PostgreSQL server binaries in ${DEBIAN_ROOT}/*/bin or on PATH`;
  if (!install) return { binDir: null, reason: missing };
  if (!isRoot()) return { binDir: null, reason: `${missing}, and not root to install them` };
  if (!searchPath('apt-get')) return { binDir: null, reason: `${missing}, and no apt-get to install them` };
  try {
    await installPostgres({ log });
  } catch (error) {
    return { binDir: null, reason: `${missing}; ${error.message.split('\n')[0]}` };
  }
  const installed = searchBinDir();
  if (installed) return { binDir: installed, reason: null };
  return { binDir: null, reason: `${missing}, even after apt-get install postgresql` };
}

/**
 * Returns the folder of PostgreSQL's server binaries, or null (after logging why); see
 * {@link locatePostgresBin}.
 * @param {{ install?: boolean, log?: (message: string) => void }} [options]
 * @returns {Promise<string | null>}
 */
export async function findPostgresBin({ install = false, log = noLog } = {}) {
  const { binDir, reason } = await locatePostgresBin({ install, log });
  if (reason) log(reason);
  return binDir;
}

const searchPath = (name) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir && isExecutable(join(dir, name)));

function postgresOwner() {
  const id = (flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim() || NaN);
  const owner = { uid: id('-u'), gid: id('-g') };
  if (Number.isNaN(owner.uid) || Number.isNaN(owner.gid))
    throw new Error("PostgreSQL refuses to run as root, and there is no 'postgres' user to run it as");
  return owner;
}

/** `postgres -o` options go through /bin/sh, so every value is single-quoted. */
function serverOptions(settings) {
  return Object.entries(settings)
    .map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`not a PostgreSQL setting name: ${name}`);
      return `-c '${`${name}=${value}`.replaceAll("'", `'\\''`)}'`;
    })
    .join(' ');
}

/** Clusters started by this process and not stopped yet. */
const live = new Set();
const hookProcessExit = stopOnExit(() => [...live].forEach(stopClusterSync));

/**
 * Starts a throwaway cluster (see the file comment) and creates the database `truce` in it.
 * `settings` are extra server settings (for tests: fsync, synchronous_commit and full_page_writes
 * off; benchmarks pass none and keep durable defaults); max_connections defaults to 300. The cluster
 * always listens on 127.0.0.1 only, on a free port, with its unix socket in its own folder.
 * `pid()` and `restart()` are for tests that crash the server on purpose (kill -9) and start it
 * again on the same data directory and port, where PostgreSQL runs crash recovery first.
 * @param {{ log?: (message: string) => void, settings?: Record<string, string | number | boolean>, binDir?: string }} [options]
 * @returns {Promise<{ url: string, port: number, dataDir: string, binDir: string, logFile: string, pid: () => number | null, restart: () => Promise<void>, stop: () => Promise<void> }>}
 */
export async function startPostgresCluster({ log = noLog, settings = {}, binDir } = {}) {
  const began = performance.now();
  if (!binDir) {
    const located = await locatePostgresBin({ log });
    if (!located.binDir) throw new Error(located.reason);
    binDir = located.binDir;
  }
  const owner = isRoot() ? postgresOwner() : null;
  sweepLeftovers(binDir, log);

  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const cluster = { dir, dataDir: join(dir, 'data'), binDir, stopping: null };
  live.add(cluster);
  hookProcessExit();
  const asPostgres = { asPostgres: true, cwd: dir };
  const logFile = join(dir, 'postgres.log');
  const serverLog = () => (existsSync(logFile) ? tail(readFileSync(logFile, 'utf8')) : '');
  /** Starts the server on `port`: true when it runs, false when the port was taken; throws otherwise. */
  const startOn = async (port, mayRetry) => {
    const options = serverOptions({
      ...DEFAULT_SETTINGS,
      ...settings,
      listen_addresses: '127.0.0.1',
      port,
      unix_socket_directories: dir,
    });
    const args = ['start', '-D', cluster.dataDir, '-w', '-t', '60', '-l', logFile, '-o', options];
    const start = await run(join(binDir, 'pg_ctl'), args, asPostgres);
    if (start.code === 0) return true;
    const text = serverLog();
    // Another process may have taken the port since freePort() saw it free.
    if (mayRetry && /could not bind|already in use/i.test(text)) return false;
    throw new Error(`pg_ctl start failed:\n${tail(start.output)}\n${text}`);
  };
  try {
    const init = await run(
      join(binDir, 'initdb'),
      ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'],
      asPostgres,
    );
    if (init.code !== 0) throw new Error(`initdb failed:\n${tail(init.output)}`);

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      if (await startOn(port, attempt < START_ATTEMPTS)) break;
    }

    const created = await run(
      join(binDir, 'createdb'),
      ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'truce'],
      asPostgres,
    );
    if (created.code !== 0) throw new Error(`createdb truce failed:\n${tail(created.output)}`);

    const url = `postgres://postgres@127.0.0.1:${port}/truce`;
    log(`PostgreSQL cluster in ${dir} at ${url} (${Math.round(performance.now() - began)} ms)`);
    return {
      url,
      port,
      dataDir: cluster.dataDir,
      binDir,
      logFile,
      pid: () => postmasterPid(cluster),
      restart: async () => {
        if (cluster.stopping) throw new Error('the cluster was stopped');
        const pid = postmasterPid(cluster);
        if (pid !== null && isRunning(pid)) throw new Error(`the cluster still runs (postmaster ${pid})`);
        // A stale postmaster.pid (left by a crash) is PostgreSQL's to judge and remove, but it refuses
        // to start while any process has that id, and a killed postmaster stays a zombie until its
        // parent (init, since pg_ctl has exited) reaps it, which can take a second.
        const reaped = performance.now() + REAP_WAIT_MS;
        while (pid !== null && pidTaken(pid)) {
          if (performance.now() > reaped)
            throw new Error(`the old postmaster ${pid} was not reaped within ${REAP_WAIT_MS} ms`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await startOn(port, false);
      },
      stop: () => stopCluster(cluster),
    };
  } catch (error) {
    await stopCluster(cluster);
    throw error;
  }
}

/** Whether a process, a zombie included, has this id: PostgreSQL's test of a lock file's owner. */
function pidTaken(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** The postmaster's process id (the first line of postmaster.pid), or null when there is none. */
function postmasterPid(cluster) {
  try {
    const pid = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

const pgCtl = (cluster, mode) => [
  join(cluster.binDir, 'pg_ctl'),
  ['stop', '-D', cluster.dataDir, '-m', mode, '-w', '-t', '20'],
  { asPostgres: true, cwd: cluster.dir },
];
/** A postmaster.pid whose process is gone (a crash, kill -9) is left behind: nothing to stop then. */
const running = (cluster) => {
  const pid = postmasterPid(cluster);
  return pid !== null && isRunning(pid);
};

/** Fast shutdown, immediate if that times out, then the folder goes. Safe to call again. */
function stopCluster(cluster) {
  cluster.stopping ??= (async () => {
    if (running(cluster) && (await run(...pgCtl(cluster, 'fast'))).code !== 0 && running(cluster))
      await run(...pgCtl(cluster, 'immediate'));
    rmSync(cluster.dir, { recursive: true, force: true });
    live.delete(cluster);
  })();
  return cluster.stopping;
}

/** For exit and signal handlers, where nothing asynchronous runs any more. */
function stopClusterSync(cluster) {
  if (running(cluster)) runSync(...pgCtl(cluster, 'immediate'));
  rmSync(cluster.dir, { recursive: true, force: true });
  live.delete(cluster);
  cluster.stopping ??= Promise.resolve();
}

/** Removes clusters whose starting process died without stopping them (SIGKILL, a crash). */
function sweepLeftovers(binDir, log) {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let pid = 0;
    try {
      pid = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours to judge, or its owner is still writing the file
    }
    if (!Number.isInteger(pid) || pid <= 0 || isRunning(pid)) continue;
    log(`removing a cluster left behind by process ${pid}: ${dir}`);
    stopClusterSync({ dir, dataDir: join(dir, 'data'), binDir, stopping: null });
  }
}

async function main() {
  const settings = {};
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const [name, ...value] = (args[i] === '-c' ? (args[++i] ?? '') : '').split('=');
    if (!name || value.length === 0) {
      console.error('usage: node scripts/postgres-cluster.mjs [-c name=value ...]');
      process.exit(2);
    }
    settings[name] = value.join('=');
  }
  const log = (message) => console.error(`[postgres-cluster] ${message}`);
  const cluster = await startPostgresCluster({ log, settings });
  console.log(cluster.url);
  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = async () => {
    clearInterval(keepAlive);
    await cluster.stop();
    log('stopped');
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`[postgres-cluster] ${error.message}`);
    process.exit(1);
  });
}
