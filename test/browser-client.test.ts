import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type * as Sdk from '@truce/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { ROOT } from './helpers.js';
import { BROWSER_REQUIRED, CHROMIUM_ARGS, ensureChromium } from './setup/browser.js';

/**
 * The built SDK in a real browser (SPEC 4: "It runs unchanged in browsers"): headless Chromium
 * loads packages/client/dist and packages/protocol/dist as ES modules, unbundled, through an import
 * map, from a page on the real server's origin, and runs an `update` that meets a conflict.
 */
const chrome = ensureChromium();
if ('missing' in chrome) {
  const line = `[browser] SKIPPING the browser tests: ${chrome.missing}`;
  console.error(`\n${'!'.repeat(line.length)}\n${line}\n${'!'.repeat(line.length)}\n`);
  if (BROWSER_REQUIRED) throw new Error(`TRUCE_REQUIRE_BROWSER=1 and ${chrome.missing}`);
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>Truce SDK</title>
<script type="importmap">{ "imports": {
  "@truce/protocol": "/__sdk/protocol/index.js",
  "@truce/client": "/__sdk/client/index.js" } }</script>
<script type="module">import * as sdk from '@truce/client'; window.truce = sdk; window.ready = true;</script>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.map': 'application/json' };

let server: TestServer;
let browser: Browser | undefined;
beforeAll(async () => {
  if ('missing' in chrome) return;
  for (const pkg of ['client', 'protocol']) {
    if (!existsSync(join(ROOT, 'packages', pkg, 'dist/index.js'))) {
      throw new Error(`packages/${pkg}/dist is missing: run 'npm run build' (npm test does) first`);
    }
  }
  server = await startTestServer(
    'actorHeader: Truce-Actor\ncollections:\n  documents:\n    merge: { arrays: { /tags: null } }\n',
  );
  browser = await chromium.launch({ executablePath: chrome.path, args: CHROMIUM_ARGS });
}, 600_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe.skipIf('missing' in chrome)('the SDK in headless Chromium', () => {
  it('runs update against the real server and merges through a conflict', async () => {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The page and the SDK's files are served on the server's own origin, so the SDK's requests
    // are same-origin, as for an app served next to its API.
    await page.route(`${server.url}/__sdk/**`, async (route) => {
      const path = new URL(route.request().url()).pathname.slice('/__sdk/'.length);
      if (path === 'index.html') return route.fulfill({ contentType: 'text/html', body: PAGE });
      const [pkg, ...rest] = path.split('/');
      const file = normalize(join(ROOT, 'packages', pkg ?? '', 'dist', ...rest));
      if (!file.startsWith(join(ROOT, 'packages')) || !existsSync(file))
        return route.fulfill({ status: 404 });
      return route.fulfill({ contentType: TYPES[extname(file)] ?? 'text/plain', body: readFileSync(file) });
    });
    await page.goto(`${server.url}/__sdk/index.html`);
    await page.waitForFunction('window.ready === true');

    const result = await page.evaluate(async (baseUrl) => {
      const { createClient, isProblem } = (window as unknown as { truce: typeof Sdk }).truce;
      const alice = createClient({ baseUrl, headers: { 'truce-actor': 'alice' } });
      const bob = createClient({ baseUrl, headers: { 'truce-actor': 'bob' } });
      await alice.create('documents', { id: 'doc', title: 'Draft', tags: ['a'], n: 0 });
      await bob.get('documents', 'doc');
      await alice.update('documents', 'doc', (d) => void (d['title'] = 'Alice title'));
      // Bob still holds version 1: his tag merges, his title overlaps alice's and is asked about.
      const asked: unknown[] = [];
      const merged = await bob.update(
        'documents',
        'doc',
        (d) => {
          d['title'] = 'Bob title';
          (d['tags'] as string[]).push('b');
        },
        {
          resolve: async (conflicts) => {
            asked.push(...conflicts);
            return 'ours' as const;
          },
        },
      );
      const missing = await bob.get('documents', 'nope').catch((e: unknown) => e);
      return {
        data: merged.data,
        rounds: merged.rounds,
        asked,
        notFound: isProblem(missing, 'not-found'),
        userAgent: navigator.userAgent,
      };
    }, server.url);

    expect(errors).toEqual([]);
    expect(result.userAgent).toMatch(/HeadlessChrome|Chrome/);
    expect(result.asked).toEqual([
      expect.objectContaining({
        pointer: '/title',
        base: 'Draft',
        ours: 'Bob title',
        theirs: 'Alice title',
        changedBy: 'alice',
      }),
    ]);
    expect(result.data).toMatchObject({
      title: 'Bob title',
      tags: ['a', 'b'],
      _version: 3,
      _updatedBy: 'bob',
    });
    expect(result.rounds).toBe(2);
    expect(result.notFound).toBe(true);
    await page.close();
  });
});
