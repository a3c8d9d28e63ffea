import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as here from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { ROOT, tempDir } from './helpers.js';

/**
 * Errors are recognised across two installed copies of the package (SPEC 4): a second copy of the
 * built SDK, with its own copy of @truce/protocol, is installed in a temporary node_modules, and
 * each copy's `isProblem`, `isConflictError` and `instanceof` recognise the other's errors.
 */
let server: TestServer;
let copy: typeof here;
const dir = tempDir('truce-client-copy-');
beforeAll(async () => {
  server = await startTestServer('collections:\n  notes: {}\n');
  for (const pkg of ['client', 'protocol']) {
    const from = join(ROOT, 'packages', pkg);
    if (!existsSync(join(from, 'dist/index.js')))
      throw new Error(`${from}/dist is missing: run 'npm run build' first`);
    const to = join(dir.path, 'node_modules/@truce', pkg);
    mkdirSync(to, { recursive: true });
    cpSync(join(from, 'dist'), join(to, 'dist'), { recursive: true });
    cpSync(join(from, 'package.json'), join(to, 'package.json'));
  }
  copy = (await import(
    pathToFileURL(join(dir.path, 'node_modules/@truce/client/dist/index.js')).href
  )) as typeof here;
});
afterAll(async () => {
  await server.close();
  dir.remove();
});

describe('errors across two copies of the package', () => {
  it('are two copies indeed', () => {
    expect(copy.TruceProblemError).not.toBe(here.TruceProblemError);
  });

  it('recognise each other’s problems and conflicts, with the parsed problem and the raw Response', async () => {
    for (const [thrower, checker] of [
      [here, copy],
      [copy, here],
    ] as const) {
      const api = thrower.createClient({ baseUrl: server.url });
      const error = await api.get('notes', 'missing').catch((e: unknown) => e);
      expect(checker.isProblem(error, 'not-found')).toBe(true);
      expect(error).toBeInstanceOf(checker.TruceProblemError);
      expect(error).not.toBeInstanceOf(checker.TruceConflictError);
      if (!checker.isProblem(error, 'not-found')) continue;
      expect(error.problem).toMatchObject({
        status: 404,
        code: 'not-found',
        retryable: false,
        resolution: 'none',
      });
      expect(error.response).toBeInstanceOf(Response);
      expect(error.response.status).toBe(404);
      expect(error.message).toMatch(/^404 not-found: /);

      await api.replace('notes', 'n', { v: 1 }).catch(() => undefined);
      const other = thrower.createClient({ baseUrl: server.url });
      await other.get('notes', 'n');
      await api.replace('notes', 'n', { v: 2 });
      const aborted = await other
        .update('notes', 'n', (d) => void (d['v'] = 3), { resolve: 'abort' })
        .catch((e: unknown) => e);
      expect(checker.isConflictError(aborted)).toBe(true);
      expect(aborted).toBeInstanceOf(checker.TruceConflictError);
      expect(checker.isProblem(aborted)).toBe(false);
    }
  });

  it('turns an answer that is not a problem document into one, keeping the status', async () => {
    const api = here.createClient({
      baseUrl: server.url,
      retry: false,
      fetch: async () =>
        new Response('<h1>Bad gateway</h1>', { status: 502, headers: { 'content-type': 'text/html' } }),
    });
    const error = await api.get('notes', 'n').catch((e: unknown) => e);
    expect(here.isProblem(error) && error.problem).toMatchObject({
      type: 'about:blank',
      status: 502,
      code: 'http-502',
      retryable: true,
      detail: '<h1>Bad gateway</h1>',
    });
  });
});
