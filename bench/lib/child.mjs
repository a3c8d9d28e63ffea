// Server children: each server under test runs in its own `node` process, so that it gets its own
// event loop and heap, and the load generator's work never counts as the server's. Every child
// started here is killed when the bench ends, fails, or is interrupted.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { clearTimeout, setTimeout } from 'node:timers';

const START_TIMEOUT_MS = 20_000;
/** Long enough for `--cpu-prof` to write a profile of a whole run. */
const STOP_TIMEOUT_MS = 15_000;

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

/**
 * Starts `node [nodeArgs] <script> [args]` and resolves once it listens. `env` adds to the
 * bench's own environment (where a value, such as a database URL, should not show in `ps`).
 * @param {{ label: string, script: string, args?: string[], nodeArgs?: string[], env?: Record<string, string> }} options
 * @returns {Promise<{ label: string, pid: number, url: string, ready: { port: number } & Record<string, unknown>, stop: () => Promise<void> }>}
 */
export async function startServer({ label, script, args = [], nodeArgs = [], env = {} }) {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  forwardLines(child.stdout, `[${label}] `);
  forwardLines(child.stderr, `[${label}] `);

  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${label} did not listen within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    const onMessage = (message) => {
      if (message && message.ready) {
        done();
        resolve(message);
      }
    };
    const onExit = (code, signal) => fail(new Error(`${label} exited (${signal ?? code}) before listening`));
    function done() {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    }
    function fail(error) {
      done();
      child.kill('SIGKILL');
      reject(error);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });

  // `ready` is the child's whole ready message: the port, and whatever else it reports (B4's gateway: its admin port).
  return {
    label,
    pid: child.pid,
    url: `http://127.0.0.1:${ready.port}`,
    ready,
    /** Sends `message` and resolves with the child's next message that has `key` (e.g. `memory`). */
    ask: (message, key) =>
      new Promise((resolve) => {
        const onMessage = (answer) => {
          if (answer && answer[key] !== undefined) {
            child.off('message', onMessage);
            resolve(answer[key]);
          }
        };
        child.on('message', onMessage);
        child.send(message);
      }),
    stop: () => stopChild(child),
  };
}

/** Asks the child to close (it exits 0, writing any CPU profile), then kills it if it lingers. */
async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (child.connected) child.send({ stop: true });
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Synchronous last resort for exit paths: kills every child still running. */
export function killAllServers() {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

function forwardLines(stream, prefix) {
  createInterface({ input: stream }).on('line', (line) => process.stderr.write(`${prefix}${line}\n`));
}
