import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, ROOT } from '../helpers.js';

/** A `truce gateway` process and the addresses it printed. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly proxy: string;
  readonly admin: string;
  readonly output: () => string;
}

/**
 * Starts `truce gateway --config file` and resolves once it printed its proxy and admin URLs; the
 * child is also pushed to `children`, so the test's cleanup kills it whatever happens.
 */
export function startGateway(
  file: string,
  children: ChildProcess[],
  env: Readonly<Record<string, string>> = {},
): Promise<GatewayProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'gateway', '--config', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`truce gateway did not start:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const proxy = /proxying on (http:\/\/\S+)/.exec(out);
      const admin = /admin API on (http:\/\/\S+)/.exec(out);
      if (proxy && admin) {
        clearTimeout(timer);
        resolve({ child, proxy: proxy[1]!, admin: admin[1]!, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`truce gateway exited with ${code}:\n${out}`));
    });
  });
}

/** One admin API call with the admin key; the JSON answer read loosely. */
export async function adminCall(
  adminKey: string,
  base: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { items?: Record<string, unknown>[] },
  };
}
