import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, requireBuild, tempDir } from './helpers.js';
import { BROWSER_REQUIRED, CHROMIUM_ARGS, ensureChromium } from './setup/browser.js';
import { FakeProviders } from './support/fake-ai.js';
import { adminCall, startGateway, type GatewayProcess } from './support/gateway.js';
import { createServer, resolveConfig } from '@truce/server';
import type { FastifyInstance } from 'fastify';

/**
 * The dashboard's AI pages in real Chromium, on a real `truce gateway` with an AI route in front of
 * local fake providers and a Truce state server: the calls two consumers make show per consumer and
 * model with their tokens and cost, and the prompts with their versions.
 */
const chrome = ensureChromium();
if ('missing' in chrome && BROWSER_REQUIRED) throw new Error(`TRUCE_REQUIRE_BROWSER=1 and ${chrome.missing}`);
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const ADMIN_KEY = 'dashboard-ai-admin-key-0123456789';

let dir: ReturnType<typeof tempDir>;
let fake: FakeProviders;
let gw: GatewayProcess;
let browser: Browser | undefined;
let truce: FastifyInstance | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  if ('missing' in chrome) return;
  requireBuild();
  dir = tempDir('truce-dashboard-ai-');
  fake = await new FakeProviders().start();
  truce = await createServer(
    resolveConfig({
      storage: 'sqlite::memory:',
      collections: {
        prompts: {
          states: {
            field: 'status',
            initial: 'draft',
            transitions: { publish: { from: ['draft'], to: 'published' } },
          },
        },
      },
    }),
  );
  const truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  // A prompt with three versions: created, published, edited by another author.
  const created = await fetch(`${truceUrl}/prompts/summarise`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', 'if-none-match': '*', 'truce-actor': 'ana' },
    body: JSON.stringify({ template: 'Summarise: {{text}}', model: 'fast' }),
  });
  const published = await fetch(`${truceUrl}/prompts/summarise/_transitions/publish`, {
    method: 'POST',
    headers: { 'if-match': created.headers.get('etag')!, 'truce-actor': 'ana' },
  });
  await fetch(`${truceUrl}/prompts/summarise`, {
    method: 'PATCH',
    headers: {
      'content-type': 'application/merge-patch+json',
      'if-match': published.headers.get('etag')!,
      'truce-actor': 'ben',
    },
    body: JSON.stringify({ template: 'Summarise in one line: {{text}}' }),
  });
  const file = join(dir.path, 'gateway.yaml');
  writeFileSync(
    file,
    `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "\${TRUCE_TEST_ADMIN_KEY}" }
  storage: sqlite:${join(dir.path, 'gateway.db')}
  upstreams:
    truce: { targets: [${truceUrl}] }
  routes:
    - name: ai
      match: { prefix: /ai }
      auth: key
      stripPrefix: true
      ai:
        providers:
          openai: { type: openai, baseUrl: ${fake.baseUrl('openai')}, key: test-openai-key }
          gemini: { type: gemini, baseUrl: ${fake.baseUrl('gemini')}, key: test-gemini-key }
        models:
          fast: [openai/gpt-4o-mini]
          smart: [gemini/gemini-2.5-pro]
        prices:
          openai/gpt-4o-mini: { input: 0.15, output: 0.6 }
        state: { upstream: truce }
`,
  );
  gw = await startGateway(file, children, { TRUCE_TEST_ADMIN_KEY: ADMIN_KEY });
  const admin = (method: string, path: string, body?: unknown) =>
    adminCall(ADMIN_KEY, gw.admin, method, path, body);
  for (const [name, model] of [
    ['web-shop', 'fast'],
    ['support-bot', 'smart'],
  ] as const) {
    const consumer = (await admin('POST', '/consumers', { name })).body as { id: string };
    const { key } = (await admin('POST', `/consumers/${consumer.id}/keys`)).body as { key: string };
    fake.reply(model === 'fast' ? 'openai' : 'gemini', { usage: { input: 1000, output: 400 } });
    const res = await fetch(`${gw.proxy}/ai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(res.status).toBe(200);
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const usage = (await admin('GET', '/analytics/usage')).body as { totals: { calls: number } };
    if (usage.totals.calls === 2) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  browser = await chromium.launch({ executablePath: chrome.path, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
  await fake?.close();
  await truce?.close();
  dir?.remove();
});

describe.skipIf('missing' in chrome)('the dashboard’s AI pages', () => {
  it('shows calls, tokens and cost per consumer and model, passes axe-core, and raises no errors', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    await page.goto(`${gw.admin}/`);
    await page.getByLabel('Admin key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
    await page.getByRole('link', { name: 'AI usage' }).click();
    await page.getByRole('heading', { level: 1, name: 'AI usage and cost' }).waitFor();
    const table = page.getByRole('table', { name: 'Usage' });
    await table.waitFor();
    const rows = await table.locator('tbody tr').allInnerTexts();
    expect(rows).toHaveLength(2);
    // Most cost first: the priced model, then the one without a price.
    expect(rows[0]).toContain('web-shop');
    expect(rows[0]).toContain('openai/gpt-4o-mini');
    expect(rows[0]).toContain('1,000');
    expect(rows[0]).toContain((1000 * 0.15e-6 + 400 * 0.6e-6).toFixed(6));
    expect(rows[1]).toContain('support-bot');
    expect(rows[1]).toContain('gemini/gemini-2.5-pro');
    expect(rows[1]).toContain('no price');
    const totals = await page.getByRole('definition').allInnerTexts();
    expect(totals.slice(0, 3)).toEqual(['2', '2,000', '800']);
    // Grouped by model only.
    await page.getByLabel('Per').selectOption({ label: 'Model' });
    await expect.poll(() => table.locator('thead th').first().innerText()).toBe('Model');
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const result = await (
        window as unknown as { axe: { run: (c: unknown) => Promise<{ violations: { id: string }[] }> } }
      ).axe.run(document);
      return result.violations.map((v) => v.id);
    });
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('lists the prompts with their status and version, and shows a prompt’s history', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    await page.goto(`${gw.admin}/`);
    await page.getByLabel('Admin key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    await page.getByRole('link', { name: 'Prompts' }).click();
    await page.getByRole('heading', { level: 1, name: 'Prompts' }).waitFor();
    const table = page.getByRole('table', { name: 'Prompts' });
    await table.waitFor();
    const row = (await table.locator('tbody tr').allInnerTexts())[0]!;
    expect(row).toContain('summarise');
    expect(row).toContain('published');
    expect(row).toContain('fast');
    expect(row).toContain('ben');
    await page.getByRole('button', { name: 'Show versions of summarise' }).click();
    const history = page.getByRole('table', { name: 'Versions of summarise' });
    await history.locator('tbody tr').nth(2).waitFor();
    const versions = await history.locator('tbody tr').allInnerTexts();
    expect(versions.map((v) => v.split('\t')[0])).toEqual(['3', '2', '1']);
    expect(versions[0]).toContain('ben');
    expect(versions[2]).toContain('ana');
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const result = await (
        window as unknown as { axe: { run: (c: unknown) => Promise<{ violations: { id: string }[] }> } }
      ).axe.run(document);
      return result.violations.map((v) => v.id);
    });
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });
});
