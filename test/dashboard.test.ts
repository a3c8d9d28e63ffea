import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, exited, requireBuild, ROOT, tempDir } from './helpers.js';
import { BROWSER_REQUIRED, CHROMIUM_ARGS, ensureChromium } from './setup/browser.js';

/**
 * The dashboard (SPEC 5.5) in real Chromium, on a real `truce dev --traffic`: the server, the
 * gateway, its admin port serving the dashboard, and the built-in shop clients making the traffic
 * the pages show.
 */
const chrome = ensureChromium();
if ('missing' in chrome) {
  const line = `[browser] SKIPPING the dashboard tests: ${chrome.missing}`;
  console.error(`\n${'!'.repeat(line.length)}\n${line}\n${'!'.repeat(line.length)}\n`);
  if (BROWSER_REQUIRED) throw new Error(`TRUCE_REQUIRE_BROWSER=1 and ${chrome.missing}`);
}
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Dev {
  child: ChildProcess;
  proxy: string;
  admin: string;
  adminKey: string;
  demoKey: string;
}

function startDev(data: string): Promise<Dev> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        CLI,
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
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`truce dev did not start:\n${out}`));
    }, 30_000);
    const field = (pattern: RegExp) => pattern.exec(out)?.[1];
    const onData = (d: Buffer) => {
      out += d.toString();
      const demoKey = field(/demo key\s+(\S+)/);
      if (!demoKey) return;
      clearTimeout(timer);
      resolve({
        child,
        proxy: field(/gateway\s+(http\S+)/)!,
        admin: field(/dashboard\s+(http\S+?)\/\s/)!,
        adminKey: field(/admin key\s+(\S+)/)!,
        demoKey,
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`truce dev exited with ${code}:\n${out}`)));
  });
}

/** Everything a page reported that should not happen: console errors, page errors, failed requests. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Leaving a page aborts its loads and the live tail's stream: the page cancelling them itself.
    if (r.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return problems;
}

/** axe-core's violations on the current page, as `rule: targets` lines. */
async function accessibility(page: Page): Promise<string[]> {
  // Through the DevTools protocol, which the page's content security policy does not govern: the
  // pages are tested under the policy they ship with.
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await (
      window as unknown as {
        axe: { run: (c: unknown) => Promise<{ violations: { id: string; nodes: { target: unknown }[] }[] }> };
      }
    ).axe.run(document);
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => JSON.stringify(n.target)).join(' ')}`);
  });
  return violations;
}

async function eventually<T>(probe: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let dir: ReturnType<typeof tempDir>;
let dev: Dev | undefined;
let browser: Browser | undefined;
beforeAll(async () => {
  if ('missing' in chrome) return;
  requireBuild();
  dir = tempDir('truce-dashboard-');
  dev = await startDev(join(dir.path, 'data'));
  browser = await chromium.launch({ executablePath: chrome.path, args: CHROMIUM_ARGS });
  // The traffic needs a few seconds to produce conflicts for the charts and hotspots.
  await eventually(
    async () => {
      const res = await fetch(`${dev!.admin}/analytics/hotspots?by=resource`, {
        headers: { authorization: `Bearer ${dev!.adminKey}` },
      });
      const { items } = (await res.json()) as { items: unknown[] };
      return items.length > 0 ? true : undefined;
    },
    60_000,
    'conflicts from the traffic',
  );
}, 120_000);
afterAll(async () => {
  await browser?.close();
  if (dev) {
    dev.child.kill('SIGINT');
    const timer = setTimeout(() => dev?.child.kill('SIGKILL'), 20_000);
    await exited(dev.child);
    clearTimeout(timer);
  }
  dir?.remove();
});

/** A page signed in with the admin key, as an operator would: typed once into the form. */
async function signedIn(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = watch(page);
  await page.goto(`${dev!.admin}/`);
  await page.getByLabel('Admin key').fill(dev!.adminKey);
  await page.getByRole('button', { name: 'Open the dashboard' }).click();
  await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
  return { page, problems };
}

describe.skipIf('missing' in chrome)('the dashboard', () => {
  it('asks for the admin key once, refuses a wrong one, and keeps the right one for the session only', async () => {
    const page = await browser!.newPage();
    const problems = watch(page);
    await page.goto(`${dev!.admin}/`);
    await page.getByLabel('Admin key').fill('not-the-key');
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    await page.getByText('That is not the admin key.').waitFor();
    await page.getByLabel('Admin key').fill(dev!.adminKey);
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
    expect(page.url()).not.toContain(dev!.adminKey);
    await page.reload();
    await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
    // A new browser context (another session) is asked again.
    const other = await browser!.newContext();
    const fresh = await other.newPage();
    await fresh.goto(`${dev!.admin}/`);
    await fresh.getByLabel('Admin key').waitFor();
    await other.close();
    // The wrong key's 401 is the one expected refusal.
    expect(problems.filter((p) => !p.startsWith('HTTP 401') && !p.includes('status of 401'))).toEqual([]);
    await page.close();
  });

  it('every page loads without errors, passes axe-core, and is reachable by keyboard', async () => {
    const { page, problems } = await signedIn();
    for (const [hash, heading] of [
      ['#/', 'Overview'],
      ['#/hotspots', 'Hotspots'],
      ['#/tail', 'Live tail'],
      ['#/alerts', 'Alerts'],
      ['#/consumers', 'Consumers, keys and subscriptions'],
      ['#/playground', 'Conflict playground'],
      ['#/usage', 'AI usage and cost'],
      ['#/prompts', 'Prompts'],
    ] as const) {
      await page.goto(`${dev!.admin}/${hash}`);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.waitForTimeout(500);
      const violations = await accessibility(page);
      if (violations.length) console.log(violations);
      expect(violations, `axe on ${hash}`).toEqual([]);
    }
    // Keyboard: the first Tab reaches the skip link, which moves focus to the content; the nav links follow.
    await page.goto(`${dev!.admin}/#/`);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await page.keyboard.press('Shift+Tab');
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Shift+Tab');
      seen.push((await page.evaluate(() => document.activeElement?.textContent)) ?? '');
    }
    for (const label of ['Hotspots', 'Live tail', 'Alerts', 'Consumers', 'AI usage', 'Prompts', 'Playground'])
      expect(seen).toContain(label);
    await page.keyboard.press('Tab');
    await page.getByRole('link', { name: 'Hotspots' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Hotspots' }).waitFor();
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('the overview charts draw the traffic the gateway logged', async () => {
    const { page, problems } = await signedIn();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    const calls = await eventually(
      async () => {
        const text = await page.locator('.tiles div', { hasText: 'Calls' }).locator('dd').textContent();
        const n = Number((text ?? '').replace(/,/g, ''));
        return n > 0 ? n : undefined;
      },
      15_000,
      'the calls tile',
    );
    expect(calls).toBeGreaterThan(0);
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(3);
    // The traffic chart's calls line is drawn in its colour (#1f5fbf) on the canvas.
    const blue = await page
      .locator('.chart canvas')
      .first()
      .evaluate((canvas: HTMLCanvasElement) => {
        const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
        let n = 0;
        for (let i = 0; i < data.length; i += 4)
          if (
            Math.abs(data[i]! - 0x1f) < 24 &&
            Math.abs(data[i + 1]! - 0x5f) < 24 &&
            Math.abs(data[i + 2]! - 0xbf) < 24
          )
            n++;
        return n;
      });
    expect(blue).toBeGreaterThan(20);
    // The axes say what they measure.
    expect(await page.getByRole('img', { name: 'Traffic, calls per 1m, over time' }).count()).toBe(1);
    expect(await page.getByRole('img', { name: 'Latency, milliseconds, over time' }).count()).toBe(1);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('a hotspot opens the calls on that resource in order, and a conflict shows who made it stale', async () => {
    const { page, problems } = await signedIn();
    await page.goto(`${dev!.admin}/#/hotspots`);
    const first = page.locator('a[href^="#/resource/"]').first();
    await first.waitFor();
    const resource = (await first.textContent())!;
    await first.click();
    await page.getByRole('heading', { level: 1, name: `Calls on ${resource}` }).waitFor();
    const conflictRow = page.locator('tr', { has: page.locator('.status.conflict') }).first();
    await conflictRow.waitFor();
    // In the log's order (SPEC 5.4 `order=asc`: the order calls were answered and written), which
    // is what says which write made a refusal stale. Not by the start times shown: two writes that
    // overlap start in one order and are answered in the other.
    const shown = await page
      .locator('table.calls tbody tr td:first-child a')
      .evaluateAll((links) =>
        links.map((a) => decodeURIComponent(a.getAttribute('href')!.slice('#/calls/'.length))),
      );
    const res = await fetch(
      `${dev!.admin}/calls?resource=${encodeURIComponent(resource)}&order=asc&limit=200`,
      {
        headers: { authorization: `Bearer ${dev!.adminKey}` },
      },
    );
    const logged = ((await res.json()) as { items: { id: string }[] }).items.map((c) => c.id);
    expect(shown.length).toBeGreaterThan(1);
    // The traffic goes on: the log may hold more calls than the page read a moment before.
    expect(logged.slice(0, shown.length)).toEqual(shown);
    await conflictRow.locator('a').first().click();
    await page.getByRole('heading', { level: 2, name: 'Why it was refused' }).waitFor();
    await expect(page.getByText('Changed by').isVisible()).resolves.toBe(true);
    await expect(page.getByRole('heading', { name: 'Request headers' }).isVisible()).resolves.toBe(true);
    expect(await accessibility(page)).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('the live tail shows a call made during the test, and pauses', async () => {
    const { page, problems } = await signedIn();
    await page.goto(`${dev!.admin}/#/tail`);
    await page.getByText(/^Live:/).waitFor();
    const marker = `tail-probe-${Date.now()}`;
    const res = await fetch(`${dev!.proxy}/catalogue/products/${marker}`);
    expect(res.status).toBe(404);
    await page.getByText(`GET /catalogue/products/${marker}`).waitFor({ timeout: 15_000 });
    // Paused, new calls are held, not shown; resuming shows them.
    await page.getByRole('button', { name: 'Pause' }).click();
    const held = `tail-held-${Date.now()}`;
    await fetch(`${dev!.proxy}/catalogue/products/${held}`);
    await page.getByRole('button', { name: /Resume \([1-9]\d* new\)/ }).waitFor({ timeout: 15_000 });
    expect(await page.getByText(`GET /catalogue/products/${held}`).count()).toBe(0);
    await page.getByRole('button', { name: /Resume/ }).click();
    await page.getByText(`GET /catalogue/products/${held}`).waitFor();
    // A filter narrows the stream to one route.
    await page.getByLabel('Route').fill('shop');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText(/^Live:/).waitFor();
    await page.waitForTimeout(1500);
    const paths = await page.locator('table.calls tbody tr td:nth-child(3)').allTextContents();
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.every((p) => p.includes('/shop/'))).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('revoke and approve in the dashboard change what the proxy lets through', async () => {
    const { page, problems } = await signedIn();
    const asDemo = () => fetch(`${dev!.proxy}/shop/products/mug`, { headers: { 'x-api-key': dev!.demoKey } });
    expect((await asDemo()).status).toBe(200);
    await page.goto(`${dev!.admin}/#/consumers`);
    await page.getByRole('button', { name: 'revoke demo on shop' }).click();
    await page.getByText('Subscription of demo to shop: revoked.').waitFor();
    expect((await asDemo()).status).toBe(403);
    await page.getByRole('button', { name: 'approve demo on shop' }).click();
    await page.getByText('Subscription of demo to shop: approved.').waitFor();
    expect((await asDemo()).status).toBe(200);
    // A new key is shown once, and works at once.
    await page.getByRole('button', { name: 'New key for demo' }).click();
    const key = (await page.locator('code.key').textContent())!;
    expect(key).toMatch(/^truce_/);
    expect((await fetch(`${dev!.proxy}/shop/products/mug`, { headers: { 'x-api-key': key } })).status).toBe(
      200,
    );
    await page.getByRole('button', { name: 'I have copied it' }).click();
    expect(await page.locator('code.key').count()).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('the playground merges disjoint edits, and resolves overlapping ones through the resolution view', async () => {
    const { page, problems } = await signedIn();
    await page.goto(`${dev!.admin}/#/playground`);
    const ann = page.getByRole('region', { name: 'Ann' });
    const ben = page.getByRole('region', { name: 'Ben' });
    await ann.getByText(/^Loaded version/).waitFor({ timeout: 20_000 });
    await ben.getByText(/^Loaded version/).waitFor({ timeout: 20_000 });
    const stored = async () => {
      const res = await fetch(`${dev!.proxy}/shop/documents/playground`, {
        headers: { 'x-api-key': dev!.demoKey },
      });
      return (await res.json()) as { title: string; tags: string[]; _updatedBy: string };
    };

    // Different fields, both from the same version: the second save merges.
    await ann.getByLabel('Title').fill('Launch plan, final');
    await ben.getByLabel('Tags (comma separated)').fill('draft, press');
    await ann.getByRole('button', { name: 'Save as Ann' }).click();
    await ann.getByText(/^Saved version \d+\.$/).waitFor();
    await ben.getByRole('button', { name: 'Save as Ben' }).click();
    await ben.getByText(/merged with changes made since you loaded it/).waitFor();
    expect(await stored()).toMatchObject({ title: 'Launch plan, final', tags: ['draft', 'press'] });

    // The same field: Ben's save opens the resolution view, and his merged value is stored.
    await ann.getByRole('button', { name: 'Reload' }).click();
    await ben.getByRole('button', { name: 'Reload' }).click();
    await ann.getByText(/^Loaded version/).waitFor();
    await ben.getByText(/^Loaded version/).waitFor();
    await ann.getByLabel('Title').fill('Launch on Monday');
    await ben.getByLabel('Title').fill('Launch on Friday');
    await ann.getByRole('button', { name: 'Save as Ann' }).click();
    await ann.getByText(/^Saved version \d+\.$/).waitFor();
    await ben.getByRole('button', { name: 'Save as Ben' }).click();
    const resolution = page.getByRole('form', { name: 'Ben: resolve the conflicts' });
    await resolution.waitFor();
    await expect(resolution.getByText('Launch on Monday').isVisible()).resolves.toBe(true);
    await expect(resolution.getByText('Launch on Friday').isVisible()).resolves.toBe(true);
    expect(await accessibility(page)).toEqual([]);
    await resolution.getByLabel('Edit the merged value').check();
    await resolution.getByLabel('Merged value for /title').fill('Launch on Monday, party on Friday');
    await resolution.getByRole('button', { name: 'Save the resolution' }).click();
    await ben.getByText(/with your resolution of 1 conflict/).waitFor();
    const after = await stored();
    expect(after.title).toBe('Launch on Monday, party on Friday');
    expect(after._updatedBy).toBe('playground-ben');
    // The conflicts were real ones, answered by the server through the gateway.
    // (The browser logs each 404 and 409 answer to the console as well.)
    const expected = (p: string) =>
      /HTTP 40[49]: .*documents\/playground/.test(p) || /status of 40[49] \((Not Found|Conflict)\)/.test(p);
    expect(problems.filter((p) => !expected(p))).toEqual([]);
    await page.close();
  }, 90_000);

  it('serves its assets gzipped under 300 KB, with a content security policy, without the admin key', async () => {
    const index = await fetch(`${dev!.admin}/`, { headers: { 'accept-encoding': 'gzip' } });
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await index.text();
    let total = 0;
    for (const path of ['/', ...[...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)]) {
      const raw = await import('node:http').then(
        ({ get }) =>
          new Promise<number>((resolve, reject) => {
            get(`${dev!.admin}${path}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
              let n = 0;
              expect(res.statusCode).toBe(200);
              res.on('data', (d: Buffer) => (n += d.length));
              res.on('end', () => resolve(n));
            }).once('error', reject);
          }),
      );
      total += raw;
    }
    expect(total).toBeLessThan(300 * 1024);
    const etag = index.headers.get('etag')!;
    expect((await fetch(`${dev!.admin}/`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${dev!.admin}/assets/..%2f..%2fpackage.json`)).status).toBe(404);
    expect((await fetch(`${dev!.admin}/routes`)).status).toBe(401);
  });
});
