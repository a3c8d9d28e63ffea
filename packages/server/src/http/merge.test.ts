import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

const CONFIG = `
collections:
  docs:
    merge:
      arrays: { /tags: null, /items: sku }
      text: [/body]
    history: { keep: 5 }
  strict:
    requirePreconditions: true
    staleWriteStatus: 409
`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(CONFIG);
});
afterAll(async () => server.close());

const body = async (res: Response) => (await res.json()) as Record<string, unknown>;
const mergePatch = (path: string, patch: unknown, headers: Record<string, string>) =>
  server.request(path, {
    method: 'PATCH',
    headers: { 'content-type': 'application/merge-patch+json', ...headers },
    body: JSON.stringify(patch),
  });

async function seed(path: string, doc: unknown): Promise<string> {
  const res = await server.request(path, json(doc));
  expect(res.status).toBeLessThan(300);
  return res.headers.get('etag')!;
}

describe('Truce-Base (SPEC 3.7)', () => {
  it('scenario 12: disjoint edits of two people merge by themselves', async () => {
    const base = await seed('/docs/d1', {
      title: 'Plan',
      body: 'line 1\nline 2\nline 3\n',
      tags: ['a'],
      owner: 'x',
    });
    const alice = await mergePatch(
      '/docs/d1',
      { title: 'Plan v2' },
      { 'truce-base': base, 'truce-actor': 'alice' },
    );
    expect(alice.status).toBe(200);
    expect(alice.headers.get('truce-merged')).toBeNull(); // her base was current: nothing to merge
    const bob = await server.request(
      '/docs/d1',
      json(
        { title: 'Plan', body: 'line 1\nline 2\nline 3 edited\n', tags: ['a', 'b'], owner: 'x' },
        { 'truce-base': base, 'truce-actor': 'bob' },
      ),
    );
    expect(bob.status).toBe(200);
    expect(bob.headers.get('truce-merged')).toBe(base);
    expect(await body(bob)).toMatchObject({
      title: 'Plan v2',
      body: 'line 1\nline 2\nline 3 edited\n',
      tags: ['a', 'b'],
      _version: 3,
    });
  });

  it('scenario 12: overlapping edits come back as a conflict listing every field', async () => {
    const base = await seed('/docs/d2', { title: 'T', status: 'draft', body: 'same\n', n: 1 });
    await mergePatch(
      '/docs/d2',
      { title: 'Theirs', status: 'review' },
      { 'truce-base': base, 'truce-actor': 'carol' },
    );
    const res = await mergePatch(
      '/docs/d2',
      { title: 'Mine', status: 'final', n: 2 },
      { 'truce-base': base, 'truce-actor': 'dave' },
    );
    expect(res.status).toBe(409);
    expect(res.headers.get('link')).toBe('</docs/d2>; rel="latest-version"');
    const p = await body(res);
    expect(p['code']).toBe('edit-conflict');
    const conflicts = p['conflicts'] as Record<string, unknown>[];
    expect(conflicts.map((c) => c['pointer']).sort()).toEqual(['/status', '/title']);
    expect(conflicts.find((c) => c['pointer'] === '/title')).toMatchObject({
      base: 'T',
      yours: 'Mine',
      theirs: 'Theirs',
      changedBy: 'carol',
      changedAt: expect.any(String),
    });
    expect(p['current']).toMatchObject({ title: 'Theirs', n: 1 });
    expect(p['currentEtag']).toBe((await server.request('/docs/d2')).headers.get('etag'));
    // Nothing of the refused edit was written, not even the part that did not conflict.
    expect(await body(await server.request('/docs/d2'))).toMatchObject({ n: 1, _version: 2 });
  });

  it('names who last changed each conflicting field, not just the latest writer', async () => {
    const base = await seed('/docs/d3', { a: 1, b: 1 });
    await mergePatch('/docs/d3', { a: 2 }, { 'truce-actor': 'erin' });
    await mergePatch('/docs/d3', { b: 2 }, { 'truce-actor': 'finn' });
    const p = await body(await mergePatch('/docs/d3', { a: 3, b: 3 }, { 'truce-base': base }));
    const by = Object.fromEntries(
      (p['conflicts'] as { pointer: string; changedBy: string }[]).map((c) => [c.pointer, c.changedBy]),
    );
    expect(by).toEqual({ '/a': 'erin', '/b': 'finn' });
  });

  it('identical changes on both sides are not conflicts; keyed arrays and text merge', async () => {
    const base = await seed('/docs/d4', {
      title: 'x',
      items: [
        { sku: 'A', quantity: 1 },
        { sku: 'B', quantity: 1 },
      ],
      body: 'one\ntwo\nthree\n',
    });
    await mergePatch(
      '/docs/d4',
      {
        title: 'same',
        items: [
          { sku: 'A', quantity: 5 },
          { sku: 'B', quantity: 1 },
        ],
        body: 'ONE\ntwo\nthree\n',
      },
      {},
    );
    const res = await mergePatch(
      '/docs/d4',
      {
        title: 'same',
        items: [
          { sku: 'A', quantity: 1 },
          { sku: 'B', quantity: 1 },
          { sku: 'C', quantity: 2 },
        ],
        body: 'one\ntwo\nTHREE\n',
      },
      { 'truce-base': base },
    );
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({
      title: 'same',
      items: [
        { sku: 'A', quantity: 5 },
        { sku: 'B', quantity: 1 },
        { sku: 'C', quantity: 2 },
      ],
      body: 'ONE\ntwo\nTHREE\n',
    });
  });

  it('a base that left history is a stale write; a false If-Match never merges', async () => {
    const old = await seed('/docs/d5', { n: 0 });
    for (let i = 1; i <= 6; i++) await seed('/docs/d5', { n: i }); // keep: 5 drops version 1
    const gone = await mergePatch('/docs/d5', { other: true }, { 'truce-base': old });
    expect(gone.status).toBe(412);
    expect(await body(gone)).toMatchObject({ code: 'stale-write' });
    const v2 = (await body(await server.request('/docs/d5/_versions/3')))['_version'];
    expect(v2).toBe(3);
    const etag3 = (await server.request('/docs/d5/_versions/3')).headers.get('etag')!;
    const strict = await mergePatch('/docs/d5', { other: true }, { 'if-match': etag3 });
    expect(strict.status).toBe(412);
    // If-Match means "no merging" and Truce-Base "merge": asking for both is a contradiction.
    expect(
      (await mergePatch('/docs/d5', { other: true }, { 'if-match': etag3, 'truce-base': etag3 })).status,
    ).toBe(400);
    const merged = await mergePatch('/docs/d5', { other: true }, { 'truce-base': etag3 });
    expect(merged.status).toBe(200);
    expect(merged.headers.get('truce-merged')).toBe(etag3);
  });

  it('counts as a precondition, answers stale bases with staleWriteStatus, and refuses weak or malformed bases', async () => {
    const created = await server.request('/strict/s1', json({ a: 1 }, { 'if-none-match': '*' }));
    const base = created.headers.get('etag')!;
    expect((await mergePatch('/strict/s1', { b: 1 }, { 'truce-base': base })).status).toBe(200);
    expect((await mergePatch('/strict/s1', { c: 1 }, { 'truce-base': base })).status).toBe(200);
    expect((await mergePatch('/strict/s1', { d: 1 }, {})).status).toBe(428);
    await server.request('/strict/s1', { method: 'DELETE', headers: { 'if-match': '*' } });
    const gone = await mergePatch('/strict/s1', { e: 1 }, { 'truce-base': base });
    expect(gone.status).toBe(404);
    await seed('/docs/d6', { a: 1 });
    expect((await mergePatch('/docs/d6', { b: 1 }, { 'truce-base': 'W/"1-x"' })).status).toBe(400);
    expect((await mergePatch('/docs/d6', { b: 1 }, { 'truce-base': 'nonsense' })).status).toBe(400);
  });
});
