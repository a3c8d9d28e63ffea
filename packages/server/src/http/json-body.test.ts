import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

// What the request body parser and JSON Patch refuse (issue 10, items 5, 13, 17, 18), through a
// listening server: the parser reads raw bytes, so the bytes sent here are the bytes it sees.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(`
collections:
  items:
    schema:
      type: object
      properties: { name: { type: string }, stock: { type: integer, minimum: 0 } }
`);
});
afterAll(async () => server.close());

const send = (
  path: string,
  body: string | Uint8Array<ArrayBuffer>,
  method = 'PUT',
  type = 'application/json',
) => server.request(path, { method, headers: { 'content-type': type }, body });

async function malformed(
  res: Response,
): Promise<{ detail: string; errors: { pointer: string; message: string }[] }> {
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as {
    code: string;
    detail: string;
    errors: { pointer: string; message: string }[];
  };
  expect(body.code).toBe('malformed-request');
  return body;
}

async function expectMissing(path: string) {
  expect((await server.request(path)).status).toBe(404);
}

async function read(path: string): Promise<Record<string, unknown>> {
  const res = await server.request(path);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe('numbers that JSON.parse would change are refused (item 5)', () => {
  it('1e400 and -1e400 are 400 with each pointer, and nothing is stored', async () => {
    const p = await malformed(await send('/items/big', '{"stock":1e400,"nested":{"list":[1,-1e400]}}'));
    expect(p.errors.map((e) => e.pointer)).toEqual(['/stock', '/nested/list/1']);
    await expectMissing('/items/big');
  });

  it('integers past 2^53 - 1 and non-zero numbers that underflow to 0 are refused', async () => {
    const p = await malformed(await send('/items/big', '{"name":"x","id2":9007199254740993,"tiny":1e-400}'));
    expect(p.errors.map((e) => e.pointer)).toEqual(['/id2', '/tiny']);
    await expectMissing('/items/big');
  });

  it('numbers kept as written still work, on every body media type', async () => {
    const res = await send('/items/ok', '{"stock":9007199254740991,"price":0.1,"huge":1.5e300,"z":-0}');
    expect(res.status).toBe(201);
    expect(await read('/items/ok')).toMatchObject({
      stock: 9007199254740991,
      price: 0.1,
      huge: 1.5e300,
      z: 0,
    });
    const merge = await send('/items/ok', '{"price":1e999}', 'PATCH', 'application/merge-patch+json');
    expect((await malformed(merge)).errors[0]!.pointer).toBe('/price');
    const patch = await send(
      '/items/ok',
      '[{"op":"replace","path":"/price","value":1e999}]',
      'PATCH',
      'application/json-patch+json',
    );
    expect((await malformed(patch)).errors[0]!.pointer).toBe('/0/value');
    expect(await read('/items/ok')).toMatchObject({ price: 0.1, _version: 1 });
  });
});

describe('duplicate member names and invalid UTF-8 are refused (item 17)', () => {
  it('a duplicate member name is 400 with its pointer, at any depth', async () => {
    const p = await malformed(await send('/items/dup', '{"name":"a","tags":[{"k":1,"k":2}],"name":"b"}'));
    expect(p.errors.map((e) => e.pointer)).toEqual(['/tags/0/k', '/name']);
    await expectMissing('/items/dup');
  });

  it('invalid UTF-8 is 400 with the byte offset, not U+FFFD', async () => {
    const prefix = new TextEncoder().encode('{"name":"caf');
    // 0xC3 starts a two-byte sequence; '"' cannot continue it.
    const body = new Uint8Array([...prefix, 0xc3, ...new TextEncoder().encode('"}')]);
    const p = await malformed(await send('/items/utf', body));
    expect(p.detail).toContain(`byte offset ${prefix.length}`);
    expect(p.errors[0]!.message).toContain(`byte offset ${prefix.length}`);
    // An encoded surrogate (ED A0 80) is not UTF-8 either.
    await malformed(await send('/items/utf', new Uint8Array([...prefix, 0xed, 0xa0, 0x80, 0x22, 0x7d])));
    await expectMissing('/items/utf');
  });

  it('valid UTF-8 is kept exactly', async () => {
    expect((await send('/items/utf8', JSON.stringify({ name: 'café 🎉 \u00e9' }))).status).toBe(201);
    expect((await read('/items/utf8'))['name']).toBe('café 🎉 \u00e9');
  });

  it('refuses inside batch operation bodies too, with the pointer into the batch', async () => {
    const p = await malformed(
      await send(
        '/_batch',
        '{"atomic":true,"operations":[{"method":"PUT","path":"/items/b","body":{"name":"x","name":"y"}}]}',
        'POST',
      ),
    );
    expect(p.errors[0]!.pointer).toBe('/operations/0/body/name');
    await expectMissing('/items/b');
  });
});

describe('__proto__ and constructor/prototype are refused everywhere (item 13)', () => {
  const patch = (path: string, operations: unknown) =>
    send(path, JSON.stringify(operations), 'PATCH', 'application/json-patch+json');

  it('the body parser refuses them with their pointer', async () => {
    const p = await malformed(
      await send('/items/proto', '{"a":{"constructor":{"prototype":{}}},"__proto__":1}'),
    );
    expect(p.errors.map((e) => e.pointer)).toEqual(['/a/constructor/prototype', '/__proto__']);
    await expectMissing('/items/proto');
  });

  it('a JSON Patch may not add, replace, copy or move to them: 400 with the pointer into the patch', async () => {
    expect((await server.request('/items/p', json({ name: 'x', src: { prototype: 1 } }))).status).toBe(201);
    const p = await malformed(
      await patch('/items/p', [
        { op: 'add', path: '/__proto__', value: { polluted: true } },
        { op: 'add', path: '/constructor', value: { prototype: {} } },
        { op: 'replace', path: '/src/constructor/prototype', value: 1 },
        { op: 'copy', from: '/src', path: '/a/__proto__' },
        { op: 'move', from: '/src', path: '/constructor/prototype' },
      ]),
    );
    expect(p.errors.map((e) => e.pointer)).toEqual([
      '/0/path',
      '/1/value/prototype',
      '/2/path',
      '/3/path',
      '/4/path',
    ]);
    expect(await read('/items/p')).toMatchObject({ _version: 1 });
  });

  it('copying or moving a member holding prototype to /constructor is 422 with the document pointer', async () => {
    for (const op of ['copy', 'move']) {
      const res = await patch('/items/p', [{ op, from: '/src', path: '/constructor' }]);
      expect(res.status).toBe(422);
      const body = (await res.json()) as { code: string; errors: { pointer: string }[] };
      expect(body.code).toBe('validation-failed');
      expect(body.errors.map((e) => e.pointer)).toEqual(['/constructor/prototype']);
    }
    expect(await read('/items/p')).toMatchObject({ _version: 1 });
  });

  it('an increment may not create them either', async () => {
    for (const pointer of ['/src/__proto__', '/src/constructor/prototype']) {
      const res = await server.request('/items/p/_increment', json({ pointer, by: 1 }, {}, 'POST'));
      expect((await malformed(res)).errors).toEqual([
        { pointer: '/pointer', message: 'cannot address __proto__ or constructor/prototype' },
      ]);
    }
    expect(await read('/items/p')).toMatchObject({ _version: 1 });
  });

  it('whatever a JSON Patch produces can be written back with PUT', async () => {
    const res = await patch('/items/p', [
      { op: 'add', path: '/constructor', value: { name: 'c' } },
      { op: 'add', path: '/prototype', value: 1 },
      { op: 'move', from: '/src', path: '/x' },
    ]);
    expect(res.status).toBe(200);
    const doc = await read('/items/p');
    expect((await server.request('/items/p', json(doc))).status).toBe(200);
  });
});

describe('JSON Patch of the whole document (item 18)', () => {
  const patch = (operations: unknown, headers: Record<string, string> = {}) =>
    server.request('/items/whole', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json', ...headers },
      body: JSON.stringify(operations),
    });

  it('replace and add at "" replace the user fields and keep id and the _ members', async () => {
    expect((await server.request('/items/whole', json({ name: 'a', stock: 1 }))).status).toBe(201);
    const first = await read('/items/whole');
    let res = await patch([{ op: 'replace', path: '', value: { name: 'b' } }]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: 'whole',
      name: 'b',
      _version: 2,
      _createdAt: first['_createdAt'],
      _updatedAt: expect.any(String),
      _updatedBy: null,
    });
    // Repeating the members unchanged is fine, and later operations see them (RFC 6902 4.1 for add).
    const current = await read('/items/whole');
    res = await patch([
      { op: 'add', path: '', value: { ...current, name: 'c', stock: 2 } },
      { op: 'test', path: '/_version', value: 2 },
      { op: 'replace', path: '/stock', value: 3 },
    ]);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 'whole', name: 'c', stock: 3, _version: 3 });
  });

  it('a whole document with a different id or _ member is still 422, and the schema still applies', async () => {
    let res = await patch([{ op: 'replace', path: '', value: { name: 'x', id: 'other', _version: 99 } }]);
    expect(res.status).toBe(422);
    const body = (await res.json()) as { errors: { pointer: string }[] };
    expect(body.errors.map((e) => e.pointer).sort()).toEqual(['/_version', '/id']);
    res = await patch([{ op: 'replace', path: '', value: { stock: -1 } }]);
    expect(res.status).toBe(422);
    res = await patch([{ op: 'replace', path: '', value: [1] }]);
    expect(res.status).toBe(422);
    expect(await read('/items/whole')).toMatchObject({ _version: 3 });
  });

  it('a failing operation after a whole replacement reports its own index', async () => {
    const res = await patch([
      { op: 'replace', path: '', value: { name: 'y' } },
      { op: 'remove', path: '/stock' },
    ]);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'patch-conflict', operationIndex: 1, pointer: '/stock' });
  });
});
