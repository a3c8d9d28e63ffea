/**
 * Chromium for the browser tests: Debian's `chromium` package, driven by playwright-core. Nothing
 * downloads a browser build: on a fresh Debian machine where we are root, the package is installed
 * with apt-get (once; later runs find it). Where it cannot be had, the browser tests are skipped
 * with one loud line, unless TRUCE_REQUIRE_BROWSER=1 (CI sets it), which makes that a failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

/** Launch arguments for headless Chromium in a container (no sandbox as root, no GPU). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];

/** The path of Chromium, installing it when possible; or why there is none. */
export function ensureChromium(): { path: string } | { missing: string } {
  if (existsSync(CHROMIUM)) return { path: CHROMIUM };
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (process.platform !== 'linux' || !root || !existsSync('/usr/bin/apt-get')) {
    return {
      missing: `${CHROMIUM} is missing and cannot be installed here (needs root on Debian with apt-get)`,
    };
  }
  try {
    console.error(
      '[browser] installing Debian package chromium (apt-get update && apt-get install -y chromium)',
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    execFileSync('apt-get', ['install', '-y', 'chromium'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    });
  } catch (error) {
    return { missing: `installing chromium failed: ${(error as Error).message}` };
  }
  return existsSync(CHROMIUM)
    ? { path: CHROMIUM }
    : { missing: `apt-get ran but ${CHROMIUM} is still missing` };
}

/** Whether a missing browser fails the run instead of skipping its tests. */
export const BROWSER_REQUIRED = process.env['TRUCE_REQUIRE_BROWSER'] === '1';
