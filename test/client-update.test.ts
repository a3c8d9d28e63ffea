import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isConflictError, isProblem, TruceConflictError, type Conflict } from '@truce/client';
import { startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';
import { startPlainServer, type PlainServer } from './client-plain-server.js';

/**
 * `update`, the re-fetch / merge / re-apply loop (SPEC 4), against the real server in both of its
 * modes (the server merges `Truce-Base` edits; the client merges after `If-Match` refusals), and
 * against a plain RFC 9110 server that knows nothing of Truce.
 */
const MERGE = { arrays: { '/tags': null, '/items': 'sku' }, text: ['/body'] } as const;
const YAML = `
actorHeader: Truce-Actor
collections:
  documents:
    schema:
      type: object
      properties:
        title: { type: string }
        body: { type: string }
        tags: { type: array, items: { type: string } }
        items: { type: array, items: { type: object, required: [sku], properties: { sku: { type: string }, quantity: { type: integer } } } }
    merge: { arrays: { /tags: null, /items: sku }, text: [ /body ] }
    staleWriteStatus: 409
  counters:
    schema: { type: object, properties: { n: { type: integer } } }
`;

interface Doc {
  title?: string;
  body?: string;
  tags?: string[];
  items?: { sku: string; quantity?: number }[];
}

let server: TestServer;
let plain: PlainServer;
beforeAll(async () => {
  server = await startTestServer(YAML);
  plain = await startPlainServer();
});
afterAll(async () => {
  await server.close();
  await plain.close();
});

type Mode = 'truce-base' | 'if-match';

/** A client of `actor` whose requests are logged as `METHOD status precondition-header`. */
function client(actor: string, mode: Mode | 'auto' = 'auto', baseUrl = server.url) {
  const log: string[] = [];
  const api = createClient<{ documents: Doc; counters: { n: number } }>({
    baseUrl,
    headers: { 'truce-actor': actor },
    collections: { documents: { merge: MERGE } },
    conflicts: { mode, baseMs: 1, capMs: 20 },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      const h = new Headers(init.headers);
      const pre = h.has('truce-base') ? 'truce-base' : h.has('if-match') ? 'if-match' : '-';
      log.push(`${init.method ?? 'GET'} ${response.status} ${pre}`);
      return response;
    },
  });
  return Object.assign(api, { log });
}

let n = 0;
async function plan(): Promise<string> {
  const id = `plan-${++n}`;
  await client('alice').create('documents', {
    id,
    title: 'Launch plan',
    body: 'Goals\nBudget: 10k\nDate: May\n',
    tags: ['draft'],
    items: [
      { sku: 'A-1', quantity: 1 },
      { sku: 'B-2', quantity: 2 },
    ],
  });
  return id;
}

describe.each<Mode>(['truce-base', 'if-match'])('update with %s', (mode) => {
  it('writes the mutator result once; a mutator that changes nothing writes nothing', async () => {
    const id = await plan();
    const alice = client('alice', mode);
    const result = await alice.update('documents', id, (doc) => {
      doc.title = 'Plan B';
    });
    expect(result).toMatchObject({ rounds: 1, merged: false, conflicts: 0 });
    expect(result.data).toMatchObject({ title: 'Plan B', _version: 2, _updatedBy: 'alice' });
    expect(alice.log).toEqual(['GET 200 -', `PUT 200 ${mode}`]);
    const same = await alice.update('documents', id, (doc) => ({ ...doc, title: 'Plan B' }));
    expect(same).toMatchObject({ rounds: 0, etag: result.etag });
    expect(alice.log).toHaveLength(2);
  });

  it('merges disjoint concurrent edits without asking anyone', async () => {
    const id = await plan();
    const alice = client('alice', mode);
    const bob = client('bob', mode);
    await alice.get('documents', id);
    await bob.get('documents', id);
    await bob.update('documents', id, (doc) => {
      doc.title = 'Launch plan (v2)';
      doc.body = 'Goals\nBudget: 12k\nDate: May\n';
    });
    const resolve = () => {
      throw new Error('disjoint edits must not reach the resolver');
    };
    // Alice still holds version 1: a new date line, a tag, one more B-2, and a new item.
    const result = await alice.update(
      'documents',
      id,
      (doc) => {
        doc.body = 'Goals\nBudget: 10k\nDate: June\n';
        doc.tags!.push('q2');
        doc.items![1]!.quantity = 3;
        doc.items!.push({ sku: 'C-3', quantity: 1 });
      },
      { resolve },
    );
    expect(result.merged).toBe(true);
    expect(result.data).toMatchObject({
      title: 'Launch plan (v2)',
      body: 'Goals\nBudget: 12k\nDate: June\n',
      tags: ['draft', 'q2'],
      items: [
        { sku: 'A-1', quantity: 1 },
        { sku: 'B-2', quantity: 3 },
        { sku: 'C-3', quantity: 1 },
      ],
      _version: 3,
    });
    // The server merges in one request; without Truce-Base the client merges after one refusal.
    expect(alice.log.slice(1)).toEqual(
      mode === 'truce-base' ? ['PUT 200 truce-base'] : ['PUT 409 if-match', 'PUT 200 if-match'],
    );
  });

  it('hands every overlapping change to an async resolver at once, with who changed it and when', async () => {
    const id = await plan();
    const alice = client('alice', mode);
    await alice.get('documents', id);
    const bob = await client('bob', mode).update('documents', id, (doc) => {
      doc.title = 'Bob title';
    });
    const carol = await client('carol', mode).update('documents', id, (doc) => {
      doc.items![1]!.quantity = 5;
    });
    const seen: Conflict[][] = [];
    const result = await alice.update(
      'documents',
      id,
      (doc) => {
        doc.title = 'Alice title';
        doc.items![1]!.quantity = 9;
        doc.tags = ['draft', 'alice'];
      },
      {
        resolve: async (conflicts, context) => {
          seen.push([...conflicts]);
          await new Promise((r) => setTimeout(r, 5)); // a person takes a moment
          expect(context.theirs).toMatchObject({ title: 'Bob title', _version: 3 });
          expect(context.ours).toMatchObject({ title: 'Alice title' });
          return context.choose({ '/title': 'ours', '/items/1/quantity': { value: 7 } });
        },
      },
    );
    expect(seen).toHaveLength(1);
    const [title, quantity] = seen[0]!;
    expect(title).toEqual({
      pointer: '/title',
      base: 'Launch plan',
      ours: 'Alice title',
      theirs: 'Bob title',
      // Truce-Base: the server names the writer of each place; If-Match: the last writer.
      changedBy: mode === 'truce-base' ? 'bob' : 'carol',
      changedAt: mode === 'truce-base' ? bob.data._updatedAt : carol.data._updatedAt,
    });
    expect(quantity).toEqual({
      pointer: '/items/1/quantity',
      base: 2,
      ours: 9,
      theirs: 5,
      changedBy: 'carol',
      changedAt: carol.data._updatedAt,
    });
    expect(result).toMatchObject({ merged: true, conflicts: 2 });
    expect(result.data).toMatchObject({
      title: 'Alice title',
      tags: ['draft', 'alice'],
      items: [
        { sku: 'A-1', quantity: 1 },
        { sku: 'B-2', quantity: 7 },
      ],
      _version: 4,
    });
  });

  it("resolves with 'ours', 'theirs', a document of the resolver's own, or stops on 'abort'", async () => {
    const id = await plan();
    const edit = (title: string) => (doc: Doc) => {
      doc.title = title;
      doc.tags = ['draft', title];
    };
    const alice = client('alice', mode);
    await alice.get('documents', id);
    await client('bob', mode).update('documents', id, (doc) => void (doc.title = 'Bob'));
    expect((await alice.update('documents', id, edit('A1'), { resolve: 'ours' })).data).toMatchObject({
      title: 'A1',
      tags: ['draft', 'A1'],
    });

    await client('bob', mode).update('documents', id, (doc) => void (doc.title = 'Bob again'));
    alice.forget('documents', id);
    await alice.get('documents', id);
    await client('bob', mode).update('documents', id, (doc) => void (doc.title = 'Bob 3'));
    expect((await alice.update('documents', id, edit('A2'), { resolve: 'theirs' })).data).toMatchObject({
      title: 'Bob 3',
      tags: ['draft', 'A2'],
    });

    await client('bob', mode).update('documents', id, (doc) => void (doc.title = 'Bob 4'));
    const own = await alice.update('documents', id, edit('A3'), {
      resolve: (_conflicts, context) => ({ ...context.merged, title: 'Both: A3 + Bob 4' }),
    });
    expect(own.data.title).toBe('Both: A3 + Bob 4');

    await client('bob', mode).update('documents', id, (doc) => void (doc.title = 'Bob 5'));
    const before = own.data._version + 1;
    const error = await alice
      .update('documents', id, edit('A4'), { resolve: 'abort' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TruceConflictError);
    expect(isConflictError(error) && error.reason).toBe('aborted');
    expect(isConflictError(error) && error.conflicts.map((c) => c.pointer)).toEqual(['/title']);
    const current = await client('x', mode).get('documents', id);
    expect(current.data).toMatchObject({ title: 'Bob 5', _version: before });
  });

  it('gives up after its rounds with the last refusal as the cause', async () => {
    const id = await plan();
    const alice = client('alice', mode);
    await alice.get('documents', id);
    await client('bob', mode).update('documents', id, (doc) => void (doc.title = 'Bob'));
    const error = await alice
      .update('documents', id, (doc) => void (doc.title = 'Alice'), { rounds: 1 })
      .catch((e: unknown) => e);
    expect(isConflictError(error) && error.reason).toBe('rounds-exhausted');
    const cause = (error as Error).cause;
    expect(isProblem(cause, mode === 'truce-base' ? 'edit-conflict' : 'stale-write')).toBe(true);
  });

  it('loses no increment with 20 clients updating one counter at once', async () => {
    const id = `counter-${mode}`;
    const each = mode === 'truce-base' ? 5 : 10;
    await client('setup').create('counters', { id, n: 0 });
    const clients = Array.from({ length: 20 }, (_, i) =>
      createClient<{ counters: { n: number } }>({
        baseUrl: server.url,
        headers: { 'truce-actor': `c${i}` },
        conflicts: { mode, rounds: 10_000, baseMs: 2, capMs: 20 },
      }),
    );
    const rounds = await Promise.all(
      clients.map(async (api) => {
        let sum = 0;
        for (let k = 0; k < each; k++) {
          sum += (await api.update('counters', id, (doc) => void (doc.n += 1))).rounds;
        }
        return sum;
      }),
    );
    const final = await client('check').get('counters', id);
    expect(final.data.n).toBe(20 * each);
    // With If-Match every write is one increment; with Truce-Base a server merge that took an equal
    // value as agreement left a version that changed nothing before the mutator ran again.
    if (mode === 'if-match') expect(final.data._version).toBe(1 + 20 * each);
    // Contention really happened: more writes were sent than landed.
    expect(rounds.reduce((a, b) => a + b, 0)).toBeGreaterThan(20 * each);
    // Every round is a real exchange with the server; on a loaded 2-core machine 20 racing clients
    // in Truce-Base mode have taken over 30 s.
  }, 90_000);
});

describe('choosing the mode', () => {
  it('finds out once that a Truce server merges Truce-Base edits, and uses it for merging resolvers', async () => {
    const id = await plan();
    const api = client('alice', 'auto');
    await api.update('documents', id, (doc) => void (doc.title = 'One'), { resolve: 'theirs' });
    await api.update('documents', id, (doc) => void (doc.title = 'Two'), { resolve: 'ours' });
    // The default resolver re-runs the mutator: a read-modify-write, sent with If-Match.
    await api.update('documents', id, (doc) => void (doc.title = 'Three'));
    expect(api.log).toEqual([
      'GET 200 -',
      'GET 200 -',
      'PUT 200 truce-base',
      'PUT 200 truce-base',
      'PUT 200 if-match',
    ]);
  });

  it('merges on the client against a plain RFC 9110 server', async () => {
    plain.docs.set('/notes/n1', { version: 1, doc: { title: 'Note', body: 'x', n: 1 } });
    const alice = client('alice', 'auto', plain.url);
    const bob = client('bob', 'auto', plain.url);
    await alice.get('notes' as 'documents', 'n1');
    await bob.update('notes' as 'documents', 'n1', (doc) => void (doc.title = 'Bob note'));
    const merged = await alice.update('notes' as 'documents', 'n1', (doc) => void (doc.body = 'y'));
    expect(merged).toMatchObject({ rounds: 2, merged: true });
    expect(plain.docs.get('/notes/n1')).toEqual({ version: 3, doc: { title: 'Bob note', body: 'y', n: 1 } });
    // A bare 412 carries no current state: the client re-reads it.
    // (and asks once whether the collection has a merge policy: this server has no /notes/_schema).
    expect(alice.log).toEqual([
      'GET 200 -',
      'PUT 412 if-match',
      'GET 200 -',
      'GET 404 -',
      'PUT 200 if-match',
    ]);

    await bob.update('notes' as 'documents', 'n1', (doc) => void (doc.title = 'Bob again'));
    const conflicts: Conflict[] = [];
    await alice.update('notes' as 'documents', 'n1', (doc) => void (doc.title = 'Alice'), {
      resolve: (found) => {
        conflicts.push(...found);
        return 'ours';
      },
    });
    expect(conflicts).toEqual([
      {
        pointer: '/title',
        base: 'Bob note',
        ours: 'Alice',
        theirs: 'Bob again',
        changedBy: null,
        changedAt: null,
      },
    ]);
    expect(plain.docs.get('/notes/n1')?.doc).toEqual({ title: 'Alice', body: 'y', n: 1 });
    // A merging resolver asked whether the server merges: it has no OpenAPI document, so no.
    expect(alice.log.slice(5)).toEqual(['GET 404 -', 'PUT 412 if-match', 'GET 200 -', 'PUT 200 if-match']);
  });
});

describe('edges', () => {
  it('starts from a given base, or from a fresh read', async () => {
    const id = await plan();
    const alice = client('alice', 'truce-base');
    const shown = await alice.get('documents', id);
    await alice.update('documents', id, (doc) => void (doc.title = 'Newer'));
    // What the user was shown is the base: a form opened before the last write.
    const result = await alice.update('documents', id, (doc) => void (doc.body = 'Shown'), { base: shown });
    expect(result.data).toMatchObject({ title: 'Newer', body: 'Shown' });
    const fresh = await alice.update('documents', id, (doc) => void (doc.tags = ['fresh']), { fresh: true });
    expect(fresh.rounds).toBe(1);
  });

  it('rejects with not-found for a missing resource, and with the deadline while a resolver waits', async () => {
    const api = client('alice', 'truce-base');
    const missing = await api.update('documents', 'nope', () => {}).catch((e: unknown) => e);
    expect(isProblem(missing, 'not-found')).toBe(true);

    const id = await plan();
    await api.get('documents', id);
    await client('bob').update('documents', id, (doc) => void (doc.title = 'Bob'));
    const started = Date.now();
    const error = await api
      .update('documents', id, (doc) => void (doc.title = 'Alice'), {
        timeout: 100,
        resolve: (_c, context) =>
          new Promise((_resolve, reject) =>
            context.signal.addEventListener('abort', () => reject(context.signal.reason)),
          ),
      })
      .catch((e: unknown) => e);
    expect((error as DOMException).name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
