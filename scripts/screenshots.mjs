#!/usr/bin/env node
// `npm run screenshots`: runs `truce dev --traffic` in a throwaway data folder, lets the shop
// clients make a minute of traffic, then drives the dashboard in Chromium (Debian's, through
// playwright-core) and writes a PNG of each page to docs/images/.
// Environment: TRAFFIC_SECONDS (60), CHROMIUM (/usr/bin/chromium).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearTimeout } from 'node:timers';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('..', import.meta.url));
const images = join(root, 'docs/images');
const seconds = Number(process.env.TRAFFIC_SECONDS ?? 60);
const data = mkdtempSync(join(tmpdir(), 'truce-screenshots-'));
mkdirSync(images, { recursive: true });

const child = spawn(
  process.execPath,
  [
    join(root, 'packages/cli/bin/truce.js'),
    'dev',
    '--traffic',
    '--data',
    data,
    '--server',
    '127.0.0.1:0',
    '--proxy',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
  ],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let out = '';
const started = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`truce dev did not start:\n${out}`)), 60_000);
  const onData = (d) => {
    out += d.toString();
    const admin = /dashboard\s+(http\S+?)\/\s/.exec(out)?.[1];
    const key = /admin key\s+(\S+)/.exec(out)?.[1];
    if (admin && key && /demo key/.test(out)) {
      clearTimeout(timer);
      resolve({ admin, key });
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.once('exit', (code) => reject(new Error(`truce dev exited with ${code}:\n${out}`)));
});

let browser;
try {
  const { admin, key } = await started;
  console.log(`truce dev is running; ${seconds} s of traffic before the pictures ...`);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${admin}/`);
  await page.getByLabel('Admin key').fill(key);
  await page.getByRole('button', { name: 'Open the dashboard' }).click();
  await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
  // Long pages (the tail, a resource's calls) are pictured as far as the window shows.
  const shoot = async (name, hash, ready, fullPage = true) => {
    if (hash !== undefined) await page.goto(`${admin}/${hash}`);
    await ready();
    await page.waitForTimeout(1500);
    const file = join(images, `dashboard-${name}.png`);
    await page.screenshot({ path: file, fullPage });
    console.log(`wrote ${file}`);
  };
  const heading = (name) => () => page.getByRole('heading', { level: 1, name }).waitFor();
  await shoot('overview', '#/', heading('Overview'));
  await shoot('hotspots', '#/hotspots', heading('Hotspots'));
  await shoot('tail', '#/tail', () => page.getByText(/^Live:/).waitFor(), false);
  await shoot('alerts', '#/alerts', heading('Alerts'));
  await shoot('consumers', '#/consumers', heading('Consumers, keys and subscriptions'));
  await page.goto(`${admin}/#/hotspots`);
  await page.locator('a[href^="#/resource/"]').first().click();
  await shoot('resource', undefined, () => page.locator('.status.conflict').first().waitFor(), false);
  await page
    .locator('tr', { has: page.locator('.status.conflict') })
    .first()
    .locator('a')
    .first()
    .click();
  await shoot('call', undefined, () =>
    page.getByRole('heading', { level: 2, name: 'Why it was refused' }).waitFor(),
  );
  // The playground with an overlapping edit waiting for its resolution.
  await page.goto(`${admin}/#/playground`);
  const ann = page.getByRole('region', { name: 'Ann' });
  const ben = page.getByRole('region', { name: 'Ben' });
  await ann.getByText(/^Loaded version/).waitFor({ timeout: 20_000 });
  await ben.getByText(/^Loaded version/).waitFor({ timeout: 20_000 });
  await ann.getByLabel('Title').fill('Launch on Monday');
  await ann.getByLabel('Body').fill('Book the venue\nInvite the press and the bloggers\nOrder the cake');
  await ben.getByLabel('Title').fill('Launch on Friday');
  await ben.getByLabel('Tags (comma separated)').fill('draft, press');
  await ann.getByRole('button', { name: 'Save as Ann' }).click();
  await ann.getByText(/^Saved version/).waitFor();
  await ben.getByRole('button', { name: 'Save as Ben' }).click();
  await shoot('playground', undefined, () =>
    page.getByRole('form', { name: 'Ben: resolve the conflicts' }).waitFor(),
  );
} finally {
  await browser?.close();
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(data, { recursive: true, force: true });
}
