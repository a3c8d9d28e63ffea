import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

let server: TestServer;
let etag: string;
beforeAll(async () => {
  server = await startTestServer(`
collections:
  items:
    schema:
      type: object
      required: [name]
      properties: { name: { type: string }, qty: { type: integer, minimum: 0 }, tags: { type: array, items: { type: string } } }
      additionalProperties: false
`);
  const res = await server.request('/items/keep', json({ name: 'original' }));
  etag = res.headers.get('etag')!;
});
afterAll(async () => server.close());

/** After every refused request the resource and the change sequence are untouched. */
async function expectNothingWritten() {
  const res = await server.request('/items/keep');
  expect(res.headers.get('etag')).toBe(etag);
  expect(await server.store.lastSeq()).toBe(1);
  const list = (await (await server.request('/items')).json()) as { items: unknown[] };
  expect(list.items).toHaveLength(1);
}

async function problem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `/_problems/${code}` });
  for (const member of ['title', 'detail', 'instance', 'retryable', 'resolution'])
    expect(body).toHaveProperty(member);
  return body;
}

describe('bad input is refused with a clear problem and nothing is written', () => {
  it('a body that is not JSON', async () => {
    const res = await server.request('/items/keep', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"name": "x",',
    });
    const p = await problem(res, 400, 'malformed-request');
    expect((p['errors'] as unknown[]).length).toBeGreaterThan(0);
    await expectNothingWritten();
  });

  it('JSON that is not an object', async () => {
    for (const body of ['[1,2]', '"text"', '42', 'null']) {
      await problem(
        await server.request('/items/keep', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body,
        }),
        400,
        'malformed-request',
      );
      await problem(
        await server.request('/items', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        }),
        400,
        'malformed-request',
      );
    }
    await expectNothingWritten();
  });

  it('an empty body on PUT and POST', async () => {
    await problem(
      await server.request('/items/keep', { method: 'PUT', headers: { 'content-type': 'application/json' } }),
      400,
      'malformed-request',
    );
    await problem(
      await server.request('/items', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '',
      }),
      400,
      'malformed-request',
    );
    await expectNothingWritten();
  });

  it('a JSON Patch with an unknown op, reporting every error with its pointer', async () => {
    const res = await server.request('/items/keep', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([
        { op: 'replace', path: '/name', value: 'x' },
        { op: 'frobnicate', path: '/name' },
        { op: 'add', path: 'no-slash', value: 1 },
      ]),
    });
    const p = await problem(res, 400, 'malformed-request');
    const pointers = (p['errors'] as { pointer: string }[]).map((e) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/1/op', '/2/path']));
    await expectNothingWritten();
  });

  it('a JSON Patch whose path does not exist is a conflict and applies nothing', async () => {
    const res = await server.request('/items/keep', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([
        { op: 'replace', path: '/name', value: 'x' },
        { op: 'remove', path: '/missing' },
      ]),
    });
    const p = await problem(res, 409, 'patch-conflict');
    expect(p).toMatchObject({ operationIndex: 1, pointer: '/missing' });
    await expectNothingWritten();
  });

  it('a 2 MiB body is 413 with the limit', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
    const p = await problem(
      await server.request('/items/keep', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: big,
      }),
      413,
      'payload-too-large',
    );
    expect(p['limit']).toBe(1024 * 1024);
    await expectNothingWritten();
  });

  it('a malformed If-Match or If-None-Match', async () => {
    for (const value of ['not-quoted', '"a", *', 'W/ "x"', '"unterminated']) {
      const p = await problem(
        await server.request('/items/keep', json({ name: 'x' }, { 'if-match': value })),
        400,
        'malformed-request',
      );
      expect(p['errors']).toEqual([expect.objectContaining({ header: 'If-Match' })]);
    }
    await problem(
      await server.request('/items/keep', { headers: { 'if-none-match': 'garbage' } }),
      400,
      'malformed-request',
    );
    await expectNothingWritten();
  });

  it('an id with / or starting with _', async () => {
    await problem(await server.request('/items/a%2Fb', json({ name: 'x' })), 400, 'malformed-request');
    await problem(await server.request('/items/_secret', json({ name: 'x' })), 400, 'malformed-request');
    await problem(
      await server.request('/items/' + 'x'.repeat(201), json({ name: 'x' })),
      400,
      'malformed-request',
    );
    await problem(
      await server.request('/items', json({ id: '_x', name: 'x' }, {}, 'POST')),
      400,
      'malformed-request',
    );
    await problem(
      await server.request('/items', json({ id: 'a/b', name: 'x' }, {}, 'POST')),
      400,
      'malformed-request',
    );
    await expectNothingWritten();
  });

  it('schema violations list every error with its pointer', async () => {
    const p = await problem(
      await server.request('/items/keep', json({ qty: -1, tags: [1], extra: true })),
      422,
      'validation-failed',
    );
    const pointers = (p['errors'] as { pointer: string }[]).map((e) => e.pointer).sort();
    expect(pointers).toEqual(['/extra', '/name', '/qty', '/tags/0']);
    await expectNothingWritten();
  });

  it('user fields starting with _ and a mismatched id are refused', async () => {
    const p = await problem(
      await server.request('/items/keep', json({ name: 'x', _secret: 1, id: 'other' })),
      422,
      'validation-failed',
    );
    expect((p['errors'] as { pointer: string }[]).map((e) => e.pointer).sort()).toEqual(['/_secret', '/id']);
    await expectNothingWritten();
  });

  it('prototype-poisoning keys are refused', async () => {
    const body = '{"name":"x","__proto__":{"polluted":true}}';
    await problem(
      await server.request('/items/keep', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body,
      }),
      400,
      'malformed-request',
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    await expectNothingWritten();
  });

  it('a body nested deeper than 64 levels', async () => {
    const deep = '{"name":"x","a":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
    const p = await problem(
      await server.request('/items/keep', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: deep,
      }),
      400,
      'malformed-request',
    );
    expect((p['errors'] as { pointer: string }[])[0]!.pointer).toMatch(/^\/a(\/0)+$/);
    await expectNothingWritten();
  });

  it('wrong media types', async () => {
    await problem(
      await server.request('/items/keep', {
        method: 'PUT',
        headers: { 'content-type': 'text/plain' },
        body: '{}',
      }),
      415,
      'unsupported-media-type',
    );
    const patch = await server.request('/items/keep', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"y"}',
    });
    await problem(patch, 415, 'unsupported-media-type');
    expect(patch.headers.get('accept-patch')).toBe(
      'application/merge-patch+json, application/json-patch+json',
    );
    const xml = await server.request('/items/keep', {
      method: 'PATCH',
      headers: { 'content-type': 'application/xml' },
      body: '<a/>',
    });
    await problem(xml, 415, 'unsupported-media-type');
    expect(xml.headers.get('accept-patch')).toContain('merge-patch');
    await expectNothingWritten();
  });

  it('bad query parameters', async () => {
    const p = await problem(await server.request('/items?limit=0&cursor=zzz'), 400, 'malformed-request');
    expect((p['errors'] as { parameter: string }[]).map((e) => e.parameter)).toContain('limit');
    await problem(await server.request('/items?cursor=not-a-cursor'), 400, 'malformed-request');
    await problem(await server.request('/items?_version=1'), 400, 'malformed-request');
  });

  it('unknown collections, ids, versions and routes are 404 problems', async () => {
    await problem(await server.request('/nope'), 404, 'not-found');
    await problem(await server.request('/nope/x', json({ name: 'x' })), 404, 'not-found');
    await problem(await server.request('/items/missing'), 404, 'not-found');
    await problem(
      await server.request('/items/missing', {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json', 'if-match': '"x"' },
        body: '{}',
      }),
      404,
      'not-found',
    );
    await problem(
      await server.request('/items/missing', { method: 'DELETE', headers: { 'if-match': '"x"' } }),
      404,
      'not-found',
    );
    await problem(await server.request('/items/keep/_versions/99'), 404, 'not-found');
    await problem(await server.request('/items/keep/_versions/abc'), 404, 'not-found');
    await problem(await server.request('/items/keep/_nothing/here/at/all'), 404, 'not-found');
    await expectNothingWritten();
  });
});
