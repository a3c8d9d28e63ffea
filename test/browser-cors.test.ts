import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type * as Sdk from '@truce/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { ROOT } from './helpers.js';
import { BROWSER_REQUIRED, CHROMIUM_ARGS, ensureChromium } from './setup/browser.js';

/**
 * Cross-origin use of the Truce server from real Chromium (docs/http-api.md, "Cross-origin
 * requests"). Pages are served by a small static server on two loopback origins of their own, one
 * in the Truce server's `cors.origins` and one not; the Truce server runs on a third. The built SDK
 * works from the allowed page (its writes need preflights); from the other page the browser refuses
 * it, and a page that forges simple requests (`mode: 'no-cors'`, a form) changes nothing.
 */
const chrome = ensureChromium();
if ('missing' in chrome) {
  const line = `[browser] SKIPPING the browser tests: ${chrome.missing}`;
  console.error(`\n${'!'.repeat(line.length)}\n${line}\n${'!'.repeat(line.length)}\n`);
  if (BROWSER_REQUIRED) throw new Error(`TRUCE_REQUIRE_BROWSER=1 and ${chrome.missing}`);
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>Truce SDK, another origin</title>
<script type="importmap">{ "imports": {
  "@truce/protocol": "/__sdk/protocol/index.js",
  "@truce/client": "/__sdk/client/index.js" } }</script>
<script type="module">import * as sdk from '@truce/client'; window.truce = sdk; window.ready = true;</script>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.map': 'application/json' };

/** A static server for the page and the built SDK, on a free loopback port. */
async function servePages(): Promise<{ origin: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    const [pkg, ...rest] = path.slice('/__sdk/'.length).split('/');
    const file = normalize(join(ROOT, 'packages', pkg ?? '', 'dist', ...rest));
    if (!path.startsWith('/__sdk/') || !file.startsWith(join(ROOT, 'packages')) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'text/plain' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, server };
}

const closeServer = (server: Server | undefined) =>
  new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));

let allowed: { origin: string; server: Server };
let other: { origin: string; server: Server };
let truce: TestServer;
let browser: Browser | undefined;
beforeAll(async () => {
  if ('missing' in chrome) return;
  for (const pkg of ['client', 'protocol']) {
    if (!existsSync(join(ROOT, 'packages', pkg, 'dist/index.js'))) {
      throw new Error(`packages/${pkg}/dist is missing: run 'npm run build' (npm test does) first`);
    }
  }
  allowed = await servePages();
  other = await servePages();
  truce = await startTestServer(`
actorHeader: Truce-Actor
cors:
  origins: ['${allowed.origin}']
collections:
  documents:
    merge: { arrays: { /tags: null } }
  tasks:
    states:
      field: status
      initial: open
      transitions:
        close: { from: [open], to: closed }
`);
  browser = await chromium.launch({ executablePath: chrome.path, args: CHROMIUM_ARGS });
}, 600_000);
afterAll(async () => {
  await browser?.close();
  await truce?.close();
  await closeServer(allowed?.server);
  await closeServer(other?.server);
});

/** A page on `origin` with the SDK loaded as `window.truce`. */
async function pageOn(origin: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/`);
  await page.waitForFunction('window.ready === true', undefined, { timeout: 10_000 });
  return { page, errors };
}

let n = 0;
/** A fresh open task, created from Node (no Origin): its path. */
async function task(): Promise<string> {
  const id = `t${++n}`;
  const res = await truce.request('/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id }),
  });
  expect(res.status).toBe(201);
  return `/tasks/${id}`;
}

const statusOf = async (path: string) =>
  ((await (await truce.request(path)).json()) as { status?: unknown }).status;

describe.skipIf('missing' in chrome)('the SDK from another origin in headless Chromium', () => {
  it('works from an allowed origin: get, update through a conflict, transition', async () => {
    const path = await task();
    const { page, errors } = await pageOn(allowed.origin);
    const result = await page.evaluate(
      async ({ baseUrl, path }) => {
        const { createClient } = (window as unknown as { truce: typeof Sdk }).truce;
        const alice = createClient({ baseUrl, headers: { 'truce-actor': 'alice' } });
        const bob = createClient({ baseUrl, headers: { 'truce-actor': 'bob' } });
        await alice.create('documents', { id: 'doc', title: 'Draft', tags: ['a'] });
        const read = await bob.get('documents', 'doc');
        await alice.update('documents', 'doc', (d) => void (d['title'] = 'Alice title'));
        // Bob's If-Match (from the exposed ETag) is stale: the 412 and its merge must be readable.
        const merged = await bob.update('documents', 'doc', (d) => void (d['tags'] as string[]).push('b'));
        const closed = await alice.transition('tasks', path.split('/')[2]!, 'close');
        return { etag: read.etag, merged: merged.data, rounds: merged.rounds, closed: closed.data };
      },
      { baseUrl: truce.url, path },
    );
    expect(errors).toEqual([]);
    expect(result.etag).toMatch(/^"/);
    expect(result.merged).toMatchObject({ title: 'Alice title', tags: ['a', 'b'], _updatedBy: 'bob' });
    expect(result.rounds).toBe(2);
    expect(result.closed).toMatchObject({ status: 'closed', _updatedBy: 'alice' });
    expect(await statusOf(path)).toBe('closed');
    await page.close();
  });

  it('is refused by the browser from an origin not allowed, and its writes never arrive', async () => {
    const path = await task();
    const { page } = await pageOn(other.origin);
    const outcomes = await page.evaluate(
      async ({ baseUrl, id }) => {
        const { createClient } = (window as unknown as { truce: typeof Sdk }).truce;
        const client = createClient({ baseUrl, headers: { 'truce-actor': 'mallory' }, retry: false });
        const attempt = (run: () => Promise<unknown>) =>
          run().then(
            () => 'succeeded',
            (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`,
          );
        return {
          get: await attempt(() => client.get('tasks', id)),
          update: await attempt(() => client.update('tasks', id, (d) => void (d['note'] = 'forged'))),
          transition: await attempt(() => client.transition('tasks', id, 'close')),
        };
      },
      { baseUrl: truce.url, id: path.split('/')[2]! },
    );
    for (const outcome of Object.values(outcomes)) expect(outcome).toMatch(/^TypeError: Failed to fetch/);
    const stored = (await (await truce.request(path)).json()) as Record<string, unknown>;
    expect(stored).toMatchObject({ status: 'open', _version: 1 });
    expect(stored['note']).toBeUndefined();
    await page.close();
  });

  it('a page forging simple requests changes nothing; the same requests from the allowed origin do', async () => {
    const forge = async (origin: string) => {
      const paths = [await task(), await task(), await task(), await task(), await task()];
      const { page, errors } = await pageOn(origin);
      // What the server answered, as the browser saw it on the wire (the page itself cannot).
      const answers = new Map<string, number>();
      page.on('response', (res) => {
        if (res.url().startsWith(truce.url)) answers.set(new URL(res.url()).pathname, res.status());
      });
      await page.evaluate(
        async ({ base, paths }) => {
          const close = (path: string) => `${base}${path}/_transitions/close`;
          // No body, a text/plain body, a JSON body in a Blob, a form body: none asks first.
          await fetch(close(paths[0]!), { method: 'POST', mode: 'no-cors' });
          await fetch(close(paths[1]!), { method: 'POST', mode: 'no-cors', body: '{}' });
          await fetch(close(paths[2]!), {
            method: 'POST',
            mode: 'no-cors',
            body: new Blob(['{}'], { type: 'application/json' }),
          });
          // no-cors drops headers that would need a preflight: this arrives as a simple request.
          await fetch(close(paths[3]!), {
            method: 'POST',
            mode: 'no-cors',
            headers: { 'idempotency-key': 'forged', 'content-type': 'application/json' },
            body: '{}',
          });
          // A form posted into a frame: a navigation, not a fetch.
          const frame = document.createElement('iframe');
          frame.name = 'target';
          document.body.append(frame);
          const form = document.createElement('form');
          Object.assign(form, { method: 'POST', action: close(paths[4]!), target: 'target' });
          document.body.append(form);
          const loaded = new Promise((resolve) => frame.addEventListener('load', resolve, { once: true }));
          form.submit();
          await Promise.race([loaded, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        },
        { base: truce.url, paths },
      );
      expect(errors).toEqual([]);
      await page.close();
      return {
        states: await Promise.all(paths.map(statusOf)),
        answers: paths.map((path) => answers.get(`${path}/_transitions/close`)),
      };
    };
    expect(await forge(other.origin)).toEqual({
      states: ['open', 'open', 'open', 'open', 'open'],
      answers: [403, 403, 403, 403, 403],
    });
    // The control: the same requests do reach the server from the allowed origin. The body-less one
    // applies; the others carry bodies that are not JSON (the Blob's type and the header were
    // dropped), so the server refuses them as it would from anyone.
    expect(await forge(allowed.origin)).toEqual({
      states: ['closed', 'open', 'open', 'open', 'open'],
      answers: [200, 415, 415, 415, 415],
    });
  });
});
