#!/usr/bin/env node
// Throwaway Redis servers for the test suite: Debian's redis-server in a fresh temporary folder, on a
// free loopback port, with no persistence (`--save '' --appendonly no`), removed again at the end.
// Redis runs fine as root, but as root it runs as the `redis` user that Debian's package creates
// (when there is one): a test server needs no privileges. A server is stopped by stop(), and also
// when the process that started it exits or is interrupted; one left behind by a killed process is
// stopped and removed by the next start.
//
// Run directly (`node scripts/redis-server.mjs`) it prints the URL and keeps the server until Ctrl-C
// or SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { freePort, isExecutable, isRoot, isRunning, noLog, stopOnExit } from './services.mjs';

const DIR_PREFIX = 'truce-redis-';
const OWNER_FILE = 'owner.pid';
const PID_FILE = 'redis.pid';
/** Debian's policy hook: exit 101 tells invoke-rc.d not to start services during apt-get install. */
const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const START_ATTEMPTS = 3;

const tail = (text, chars = 1500) => text.trim().slice(-chars);

const searchPath = (name) =>
  ['/usr/bin', '/usr/sbin', ...(process.env.PATH ?? '').split(delimiter)]
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .find(isExecutable) ?? null;

function run(command, args, env) {
  return new Promise((done) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', (error) => done({ code: -1, output: error.message }));
    child.once('close', (code) => done({ code: code ?? -1, output }));
  });
}

/**
 * Installs redis-server with apt-get (root only) without leaving Debian's own service running or
 * enabled: a policy-rc.d that refuses service starts is in place during the install (unless one
 * already is), and the service is disabled afterwards. Throws with apt-get's output on failure.
 * @param {{ log?: (message: string) => void }} [options]
 */
export async function installRedis({ log = noLog } = {}) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const ownPolicy = !existsSync(POLICY_RC_D);
  if (ownPolicy)
    writeFileSync(
      POLICY_RC_D,
      '#!/bin/sh\n# Truce test setup: no service starts during apt-get install.\nexit 101\n',
      { mode: 0o755 },
    );
  try {
    log('installing Redis: apt-get update && apt-get install -y redis-server (this can take a minute)');
    await run('apt-get', ['update'], env);
    const result = await run('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], env);
    if (result.code !== 0) throw new Error(`apt-get install -y redis-server failed:\n${tail(result.output)}`);
  } finally {
    if (ownPolicy) unlinkSync(POLICY_RC_D);
  }
  disableDebianService(log);
  log('Redis installed (its Debian service disabled)');
}

/** Debian's redis-server service must neither run nor start at boot: the tests start their own. */
function disableDebianService(log) {
  const quiet = { stdio: 'ignore', timeout: 20_000 };
  if (existsSync('/run/systemd/system') && searchPath('systemctl'))
    spawnSync('systemctl', ['disable', '--now', 'redis-server'], quiet);
  if (searchPath('update-rc.d')) spawnSync('update-rc.d', ['redis-server', 'disable'], quiet);
  // Without systemd (containers), a service started despite the policy hook is stopped by its pid.
  const pidFile = '/run/redis/redis-server.pid';
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) {
    log(`stopping Debian's redis-server service (pid ${pid})`);
    process.kill(pid, 'SIGTERM');
  }
}

/**
 * Finds Debian's `redis-server` binary and says why when it cannot. `TRUCE_REDIS_SERVER` pins it
 * (nothing else is searched or installed). With `install`, a root process that has apt-get
 * installs it first when none is found.
 * @param {{ install?: boolean, log?: (message: string) => void }} [options]
 * @returns {Promise<{ binary: string, reason: null } | { binary: null, reason: string }>}
 */
export async function locateRedisServer({ install = false, log = noLog } = {}) {
  const pinned = process.env.TRUCE_REDIS_SERVER;
  if (pinned) {
    if (isExecutable(pinned)) return { binary: pinned, reason: null };
    return { binary: null, reason: `TRUCE_REDIS_SERVER=${pinned} is not an executable` };
  }
  const found = searchPath('redis-server');
  if (found) return { binary: found, reason: null };
  const missing = 'no redis-server in /usr/bin or on PATH';
  if (!install) return { binary: null, reason: missing };
  if (!isRoot()) return { binary: null, reason: `${missing}, and not root to install it` };
  if (!searchPath('apt-get')) return { binary: null, reason: `${missing}, and no apt-get to install it` };
  try {
    await installRedis({ log });
  } catch (error) {
    return { binary: null, reason: `${missing}; ${error.message.split('\n')[0]}` };
  }
  const installed = searchPath('redis-server');
  if (installed) return { binary: installed, reason: null };
  return { binary: null, reason: `${missing}, even after apt-get install redis-server` };
}

function redisOwner() {
  const id = (flag) => Number(spawnSync('id', [flag, 'redis'], { encoding: 'utf8' }).stdout.trim() || NaN);
  const owner = { uid: id('-u'), gid: id('-g') };
  return Number.isNaN(owner.uid) || Number.isNaN(owner.gid) ? null : owner;
}

/** Resolves once the server answers PING with PONG, or rejects after `timeoutMs`. */
async function waitForPong(port, child, timeoutMs = 10_000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('redis-server exited');
    const ok = await new Promise((done) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      let reply = '';
      socket.setTimeout(500, () => socket.destroy());
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        reply += d;
        if (reply.includes('\r\n')) socket.end();
      });
      socket.on('close', () => done(reply.startsWith('+PONG')));
      socket.on('error', () => {});
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not answer PING within ${timeoutMs} ms`);
}

/** Servers started by this process and not stopped yet. */
const live = new Set();
const hookProcessExit = stopOnExit(() => [...live].forEach(stopServerSync));

/**
 * Starts a throwaway Redis (see the file comment) on 127.0.0.1 and a free port, or on `port` when
 * given (a test restarting a server it killed).
 * @param {{ log?: (message: string) => void, binary?: string, port?: number }} [options]
 * @returns {Promise<{ url: string, port: number, pid: number, dir: string, stop: () => Promise<void> }>}
 */
export async function startRedisServer({ log = noLog, binary, port: fixedPort } = {}) {
  const began = performance.now();
  if (!binary) {
    const located = await locateRedisServer({ log });
    if (!located.binary) throw new Error(located.reason);
    binary = located.binary;
  }
  sweepLeftovers(log);
  const owner = isRoot() ? redisOwner() : null;
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const server = { dir, child: null, stopping: null };
  live.add(server);
  hookProcessExit();
  let output = '';
  try {
    for (let attempt = 1; ; attempt++) {
      const port = fixedPort ?? (await freePort());
      // Everything on the command line: no config file, no persistence, loopback only.
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--protected-mode',
        'yes',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--pidfile',
        join(dir, PID_FILE),
        '--daemonize',
        'no',
        '--logfile',
        '',
        '--loglevel',
        'warning',
      ];
      output = '';
      const child = spawn(binary, args, {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
      });
      server.child = child;
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.once('error', (error) => (output += error.message));
      try {
        await waitForPong(port, child);
      } catch (error) {
        await stopChild(child);
        // Another process may have taken the port since freePort() saw it free.
        if (!fixedPort && attempt < START_ATTEMPTS && /address already in use/i.test(output)) continue;
        throw new Error(`${error.message}:\n${tail(output)}`);
      }
      const url = `redis://127.0.0.1:${port}`;
      log(`redis-server in ${dir} at ${url} (${Math.round(performance.now() - began)} ms)`);
      return { url, port, pid: child.pid, dir, stop: () => stopServer(server) };
    }
  } catch (error) {
    await stopServer(server);
    throw error;
  }
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

/** SIGTERM (SIGKILL after 5 s), then the folder goes. Safe to call again. */
function stopServer(server) {
  server.stopping ??= (async () => {
    if (server.child) await stopChild(server.child);
    rmSync(server.dir, { recursive: true, force: true });
    live.delete(server);
  })();
  return server.stopping;
}

/** For exit and signal handlers, where nothing asynchronous runs any more. */
function stopServerSync(server) {
  killPidFile(server.dir);
  rmSync(server.dir, { recursive: true, force: true });
  live.delete(server);
  server.stopping ??= Promise.resolve();
}

function killPidFile(dir) {
  try {
    const pid = Number(readFileSync(join(dir, PID_FILE), 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) process.kill(pid, 'SIGKILL');
  } catch {
    // no pid file: the server never started or is gone
  }
}

/** Stops and removes servers whose starting process died without stopping them (SIGKILL, a crash). */
function sweepLeftovers(log) {
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
    log(`removing a redis-server left behind by process ${pid}: ${dir}`);
    stopServerSync({ dir, child: null, stopping: null });
  }
}

async function main() {
  const log = (message) => console.error(`[redis-server] ${message}`);
  const located = await locateRedisServer({ install: true, log });
  if (!located.binary) throw new Error(located.reason);
  const server = await startRedisServer({ log, binary: located.binary });
  console.log(server.url);
  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = async () => {
    clearInterval(keepAlive);
    await server.stop();
    log('stopped');
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`[redis-server] ${error.message}`);
    process.exit(1);
  });
}
