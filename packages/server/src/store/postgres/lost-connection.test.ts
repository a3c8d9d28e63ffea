import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startPgProxy, type FrontendMessage, type PgProxy } from '../../../../../test/support/pg-proxy.js';
import { describeWithPostgres, dropSchema, newSchemaName } from '../../../../../test/support/postgres.js';
import { parseConfigText } from '../../config/load.js';
import { createServer } from '../../server.js';
import { json } from '../../testing/harness.js';
import { openPostgresStore, type PostgresStore } from './postgres-store.js';
import { quoteIdentifier } from './schema.js';
import { createStatements, type Statements } from './statements.js';

/*
 * What the server answers when the connection to PostgreSQL breaks, through real HTTP and a real
 * PostgreSQL behind a TCP proxy (test/support/pg-proxy.ts) that cuts connections on cue:
 *
 * - after COMMIT (or a one-statement write) was sent: the write may have been applied, so the answer
 *   is 503 `outcome-unknown`, never `busy`, which promises that nothing was written;
 * - before COMMIT: the transaction is rolled back, so the answer is `busy`;
 * - with the database unreachable: `busy`, and the problem body does not carry the database's
 *   address or the driver's error (they go to the server log).
 */

const CONFIG = `
idempotency: { ttl: 3600 }
collections:
  plain: {}
  accounts:
    unique: [ { fields: [email] } ]
`;

const TIMEOUT = 5000;

/** Resolves `promise`, or fails the test after `ms`. */
function bounded<T>(promise: Promise<T>, ms = TIMEOUT): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no cut within ${ms} ms`)), ms)),
  ]);
}

/**
 * Matches the Bind of statement `key`, prepared (by its name) or sent unnamed (statements.ts,
 * REPLANNED: the Bind that follows the Parse of its text).
 */
function bindOf(statements: Statements, key: keyof Statements): (m: FrontendMessage) => boolean {
  const statement = statements[key];
  const name = `truce_${key}`;
  let parsed = false;
  return (m) => {
    if (m.type === 'P') parsed = m.text.includes(statement.text);
    return m.type === 'B' && (parsed || m.text.includes(name));
  };
}

/** Matches the COMMIT of a transaction that wrote changes, after statement `key` was bound. */
function commitAfter(statements: Statements, key: keyof Statements): (m: FrontendMessage) => boolean {
  const bound = bindOf(statements, key);
  let finished = false;
  return (m) => {
    if (bound(m)) finished = true;
    return finished && m.type === 'Q' && m.text.startsWith('COMMIT');
  };
}

describeWithPostgres('a PostgreSQL connection that breaks', (url) => {
  let schema: string;
  let statements: Statements;
  let proxy: PgProxy;
  let store: PostgresStore;
  let app: FastifyInstance;
  let base: string;
  const logs: string[] = [];

  beforeEach(async () => {
    schema = newSchemaName('lost');
    statements = createStatements(quoteIdentifier(schema), true);
    proxy = await startPgProxy(url);
    store = await openPostgresStore({ url: proxy.url, schema, poolSize: 2, connectTimeoutMs: 2000 });
    logs.length = 0;
    app = await createServer(parseConfigText(CONFIG), {
      store,
      logger: { level: 'warn', stream: { write: (line: string) => void logs.push(line) } },
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await proxy.close();
    await dropSchema(url, schema);
  });

  const request = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);

  async function problem(res: Response, code: string) {
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    const text = await res.text();
    // Nothing about where the database is or what the driver said.
    expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|PostgreSQL|Connection terminated|:\d{4,5}\b/);
    expect(text).not.toContain(new URL(proxy.url).port);
    const body = JSON.parse(text) as { code: string; retryable: boolean; detail: string };
    expect(body).toMatchObject({ code, retryable: true, status: 503 });
    return body;
  }

  it('a transaction whose COMMIT answer is lost is outcome-unknown; it did commit, and If-Match tells', async () => {
    const created = await request('/accounts/a', json({ email: 'a@x', n: 1 }));
    const etag = created.headers.get('etag')!;
    const cut = proxy.cutAfter(commitAfter(statements, 'finish'));
    const res = await request('/accounts/a', json({ email: 'a@x', n: 2 }, { 'if-match': etag }));
    const body = await problem(res, 'outcome-unknown');
    expect(body.detail).toMatch(/Idempotency-Key/);
    expect(body.detail).toMatch(/If-Match/);
    await bounded(cut);
    // The write was applied although no one was told: the repeat with the same If-Match says so.
    expect(await (await request('/accounts/a')).json()).toMatchObject({ n: 2, _version: 2 });
    const again = await request('/accounts/a', json({ email: 'a@x', n: 2 }, { 'if-match': etag }));
    expect(again.status).toBe(412);
    const logged = logs.find((line) => line.includes('"msg":"outcome-unknown"'));
    expect(logged).toContain('Connection terminated');
  });

  it('a keyed write whose COMMIT answer is lost is outcome-unknown, and its repeat replays it', async () => {
    await request('/plain/k', json({ n: 1 }));
    const cut = proxy.cutAfter(commitAfter(statements, 'finish'));
    const headers = { 'idempotency-key': 'lost-commit-1' };
    await problem(await request('/plain/k', json({ n: 2 }, headers)), 'outcome-unknown');
    await bounded(cut);
    const again = await request('/plain/k', json({ n: 2 }, headers));
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await (await request('/plain/k')).json()).toMatchObject({ n: 2, _version: 2 });
  });

  it('a batched write whose COMMIT answer is lost is outcome-unknown', async () => {
    const created = await request('/plain/p', json({ n: 1 }));
    const cut = proxy.cutAfter(commitAfter(statements, 'lockHeads'));
    const res = await request('/plain/p', json({ n: 2 }, { 'if-match': created.headers.get('etag')! }));
    await problem(res, 'outcome-unknown');
    await bounded(cut);
    expect(await (await request('/plain/p')).json()).toMatchObject({ n: 2, _version: 2 });
  });

  it('a batched write cut off before its group commits is busy, and nothing was written', async () => {
    const created = await request('/plain/q', json({ n: 1 }));
    const cut = proxy.cutAfter(bindOf(statements, 'lockHeads'));
    const res = await request('/plain/q', json({ n: 2 }, { 'if-match': created.headers.get('etag')! }));
    await problem(res, 'busy');
    await bounded(cut);
    expect(await (await request('/plain/q')).json()).toMatchObject({ n: 1, _version: 1 });
  });

  it('a connection lost before COMMIT is busy, and nothing was written', async () => {
    await request('/accounts/b', json({ email: 'b@x', n: 1 }));
    const cut = proxy.cutAfter((m) => m.type === 'Q' && m.text.startsWith('BEGIN'));
    await problem(await request('/accounts/b', json({ email: 'b@x', n: 2 })), 'busy');
    await bounded(cut);
    expect(await (await request('/accounts/b')).json()).toMatchObject({ n: 1, _version: 1 });
  });

  it('an unreachable database is busy from /_health and writes, with its address only in the log', async () => {
    expect((await request('/_health')).status).toBe(200);
    await proxy.close();
    const health = await problem(await request('/_health'), 'busy');
    expect(health.detail).toBeTruthy();
    await problem(await request('/plain/x', json({ n: 1 })), 'busy');
    const port = new URL(proxy.url).port;
    expect(logs.join('')).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  });
});
