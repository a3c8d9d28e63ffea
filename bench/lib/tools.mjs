// wrk and nginx for the gateway bench (B4, B5): found on PATH, or installed from Debian with
// apt-get when missing and running as root. Debian's packaged nginx would start its own service on
// port 80; a policy-rc.d that refuses every service start is put in place for the install (unless
// one is there already) and removed afterwards, and any nginx the install still started is stopped.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const POLICY = '/usr/sbin/policy-rc.d';

/** The path of `name` on PATH (or the usual sbin folders), or undefined. */
export function which(name) {
  const r = spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

/**
 * Makes sure wrk and nginx are there, installing the missing ones (`wrk`, `nginx-light`) when root.
 * @returns {{ wrk: string | undefined, nginx: string | undefined, notes: string[] }}
 */
export function ensureTools(progress) {
  const notes = [];
  const missing = [];
  if (!which('wrk')) missing.push('wrk');
  if (!which('nginx')) missing.push('nginx-light');
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      notes.push(`${missing.join(' and ')} missing and not root: not installed`);
    } else {
      progress(`installing ${missing.join(', ')} with apt-get`);
      const ownPolicy = !existsSync(POLICY);
      if (ownPolicy)
        writeFileSync(POLICY, '#!/bin/sh\n# truce bench: no service starts during the install\nexit 101\n', {
          mode: 0o755,
        });
      try {
        const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
        execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
        execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'ignore', env });
        notes.push(`installed ${missing.join(', ')} from Debian`);
      } catch (error) {
        notes.push(`apt-get install ${missing.join(' ')} failed: ${error.message.split('\n')[0]}`);
      } finally {
        if (ownPolicy) rmSync(POLICY, { force: true });
      }
      stopPackagedNginx(notes);
    }
  }
  return { wrk: which('wrk'), nginx: which('nginx'), notes };
}

/** Debian's own nginx service, if the install started it anyway: stopped, so nothing stays on port 80. */
function stopPackagedNginx(notes) {
  const pidFile = '/run/nginx.pid';
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGQUIT');
    notes.push(`stopped the nginx service the install started (pid ${pid})`);
  } catch {
    // Not running.
  }
  spawnSync('systemctl', ['disable', '--now', 'nginx'], { stdio: 'ignore' });
}
