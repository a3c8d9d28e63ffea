// What the scripts that run throwaway services for the tests (postgres-cluster.mjs,
// redis-server.mjs) share: finding executables, free ports, telling live processes from dead
// ones, and stopping every service a process started when that process ends, however it ends.
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export const noLog = () => {};
export const isRoot = () => process.getuid?.() === 0;

export function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A port nothing listens on now; start retries with another if it is taken in between. */
export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Whether a process runs; a zombie (killed, not yet reaped by its parent) does not. */
export function isRunning(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return error.code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill()
  }
}

/**
 * Calls `stopAll` (synchronous) when this process exits or gets SIGINT, SIGTERM or SIGHUP. Returns
 * a function to call before each start: it installs the listeners once.
 */
export function stopOnExit(stopAll) {
  let hooked = false;
  return () => {
    if (hooked) return;
    hooked = true;
    // First in line: a listener before ours may call process.exit(), which skips the rest (vitest's do).
    process.prependListener('exit', stopAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      const onSignal = () => {
        stopAll();
        // Alone, this listener would swallow the signal: end the process the way it would have ended.
        if (process.listenerCount(signal) === 1) {
          process.removeListener(signal, onSignal);
          process.kill(process.pid, signal);
        }
      };
      process.prependListener(signal, onSignal);
    }
  };
}
