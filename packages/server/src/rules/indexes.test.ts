import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load.js';
import { createServer } from '../server.js';
import { json } from '../testing/harness.js';
import { IndexConflictError } from './indexes.js';

const dir = mkdtempSync(join(tmpdir(), 'truce-reindex-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts a server on a file store with these collections, runs `use`, and stops it. */
async function withServer(
  db: string,
  collections: string,
  use: (url: string) => Promise<void>,
): Promise<void> {
  const app = await createServer(
    parseConfigText(`storage: sqlite:${join(dir, db)}\ncollections:\n${collections}`),
    { logger: false },
  );
  try {
    await use(await app.listen({ host: '127.0.0.1', port: 0 }));
  } finally {
    await app.close();
  }
}

describe('constraints added to a collection that already holds data', () => {
  it('cover the documents written before them', async () => {
    await withServer('grow.db', '  users: {}\n  teams: {}\n', async (url) => {
      await fetch(`${url}/users/a`, json({ email: 'Ann@example.com' }));
      await fetch(`${url}/teams/t1`, json({}));
      await fetch(`${url}/users/b`, json({ email: 'bob@example.com', team: 't1' }));
    });
    const constrained = `  users:\n    unique: [ { fields: [email], caseInsensitive: true } ]\n    references: { team: teams }\n  teams: {}\n`;
    await withServer('grow.db', constrained, async (url) => {
      const dup = await fetch(`${url}/users`, json({ email: 'ann@EXAMPLE.com' }, {}, 'POST'));
      expect(dup.status).toBe(409);
      expect(((await dup.json()) as { existing: string }).existing).toBe('/users/a');
      const del = await fetch(`${url}/teams/t1`, { method: 'DELETE' });
      expect(del.status).toBe(409);
    });
  });

  it('refuse to start, listing the offenders, when the data breaks them', async () => {
    await withServer('clash.db', '  users: {}\n', async (url) => {
      await fetch(`${url}/users/a`, json({ email: 'same@example.com', team: 'nope' }));
      await fetch(`${url}/users/b`, json({ email: 'same@example.com' }));
    });
    const config = parseConfigText(
      `storage: sqlite:${join(dir, 'clash.db')}\ncollections:\n  users:\n    unique: [ { fields: [email] } ]\n    references: { team: teams }\n  teams: {}\n`,
    );
    const failure = await createServer(config, { logger: false }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(IndexConflictError);
    const text = (failure as Error).message;
    expect(text).toContain('users: email ["same@example.com"] is held by users/a, users/b');
    expect(text).toContain('users/a: team refers to teams/nope, which does not exist');
    // Nothing changed: with the old configuration the server starts as before.
    await withServer('clash.db', '  users: {}\n', async (url) => {
      expect((await fetch(`${url}/users/b`)).status).toBe(200);
    });
  });
});
