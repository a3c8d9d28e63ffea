import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

/** How the edge reads a request's path and headers (issue 10, items 11 and 14). */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(`
collections:
  folders: {}
`);
});
afterAll(async () => server.close());

interface RawResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * Sends one request as exact bytes on a socket (fetch cannot send UTF-8 in a header) and reads the
 * answer to its end; the server closes the connection as asked.
 */
function rawRequest(head: Buffer, body = ''): Promise<RawResponse> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5_000);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const [status, rest] = [Number(text.split(' ')[1]), text.slice(text.indexOf('\r\n\r\n') + 4)];
      resolve({ status, body: rest === '' ? {} : (JSON.parse(rest) as Record<string, unknown>) });
    });
    // Not end(): Node.js drops a request whose client half-closed before the answer was ready.
    socket.write(Buffer.concat([head, Buffer.from(body)]));
  });
}

/** A request whose actor header is the given bytes. */
function withActor(method: string, path: string, actor: Buffer, body?: unknown): Promise<RawResponse> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const head = Buffer.concat([
    Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTruce-Actor: `),
    actor,
    Buffer.from(`\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n`),
  ]);
  return rawRequest(head, text);
}

describe('the actor header', () => {
  it('is read as UTF-8: José is stored as José, in the document and in its history', async () => {
    const put = await withActor('PUT', '/folders/f1', Buffer.from('José', 'utf8'), { name: 'x' });
    expect(put.status).toBe(201);
    expect(put.body['_updatedBy']).toBe('José');
    const read = (await (await server.request('/folders/f1')).json()) as Record<string, unknown>;
    expect(read['_updatedBy']).toBe('José');
    const history = (await (await server.request('/folders/f1/_versions')).json()) as {
      items: { by: string | null }[];
    };
    expect(history.items[0]!.by).toBe('José');
    const feed = (await (await server.request('/folders/_changes')).json()) as {
      results: { id: string; by: string | null }[];
    };
    expect(feed.results.find((c) => c.id === 'f1')!.by).toBe('José');
  });

  it('carries UTF-8 into the operations of a batch', async () => {
    const res = await withActor('POST', '/_batch', Buffer.from('Zoë 🙂', 'utf8'), {
      operations: [{ method: 'PUT', path: '/folders/f2', body: {} }],
    });
    expect(res.status).toBe(200);
    const read = (await (await server.request('/folders/f2')).json()) as Record<string, unknown>;
    expect(read['_updatedBy']).toBe('Zoë 🙂');
  });

  it('is refused with 400 when its bytes are not UTF-8 or hold control characters', async () => {
    for (const actor of [Buffer.from([0x4a, 0x6f, 0x73, 0xe9]), Buffer.from('a\u0085b', 'utf8')]) {
      const res = await withActor('PUT', '/folders/f3', actor, {});
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        code: 'malformed-request',
        errors: [{ header: 'Truce-Actor', message: 'must be UTF-8 text without control characters' }],
      });
    }
    expect((await server.request('/folders/f3')).status).toBe(404);
  });
});

describe('the idempotency scope', () => {
  it('is the route as the router reads it: /%66olders is /folders', async () => {
    const key = { 'idempotency-key': 'route-1' };
    const first = await server.request('/folders', json({ n: 1 }, key, 'POST'));
    expect(first.status).toBe(201);
    const again = await server.request('/%66olders', json({ n: 1 }, key, 'POST'));
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    const list = (await (await server.request('/folders?n=1')).json()) as { items: unknown[] };
    expect(list.items).toHaveLength(1);
  });
});

describe('headers parsed once at the edge', () => {
  it('a malformed header refuses only the requests that use it, after the 404 of a missing route', async () => {
    await server.request('/folders/h1', json({ n: 1 }));
    const badToken = { 'lock-token': 'two, tokens' };
    // A read does not use Lock-Token or Truce-Base; a create does not use Truce-Base.
    expect((await server.request('/folders/h1', { headers: badToken })).status).toBe(200);
    expect((await server.request('/folders', json({}, { 'truce-base': 'nonsense' }, 'POST'))).status).toBe(
      201,
    );
    // A write uses both.
    const put = await server.request('/folders/h1', json({ n: 2 }, badToken));
    expect(put.status).toBe(400);
    expect(await put.json()).toMatchObject({ errors: [{ header: 'Lock-Token' }] });
    const base = await server.request('/folders/h1', json({ n: 2 }, { 'truce-base': 'W/"1-x"' }));
    expect(await base.json()).toMatchObject({ errors: [{ header: 'Truce-Base' }] });
    // An unknown collection is 404 whatever its headers say.
    expect((await server.request('/nothing/h1', json({}, badToken))).status).toBe(404);
  });
});
