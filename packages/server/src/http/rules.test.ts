import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

const CONFIG = `
collections:
  accounts:
    schema: { type: object, properties: { email: { type: string }, nick: { type: string }, tier: { type: string } } }
    unique:
      - { fields: [email], caseInsensitive: true }
      - { name: nick-per-tier, fields: [tier, nick] }
  tickets:
    schema:
      type: object
      properties:
        state: { enum: [open, closed, archived] }
        reason: { type: string }
    states:
      field: state
      initial: open
      transitions:
        close: { from: [open], to: closed, guard: { required: [reason] } }
        reopen: { from: [closed], to: open }
        archive: { from: [closed], to: archived }
  shelves: {}
  books:
    references: { shelf: shelves }
  stock:
    schema:
      type: object
      properties:
        qty: { type: integer, minimum: 0, maximum: 100 }
        temp: { type: number, exclusiveMinimum: -10 }
        label: { type: string }
        reserved: { type: integer, minimum: 0 }
    rules:
      - name: reserve-within-qty
        schema: { properties: { reserved: { type: integer } } }
  counters:
    schema: { type: object, properties: { n: { type: integer, minimum: 0 } } }
`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(CONFIG);
});
afterAll(async () => server.close());

const post = (path: string, body: unknown) => server.request(path, json(body, {}, 'POST'));
const patch = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  server.request(path, {
    method: 'PATCH',
    headers: { 'content-type': 'application/merge-patch+json', ...headers },
    body: JSON.stringify(body),
  });
const body = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe('unique constraints', () => {
  it('of 30 simultaneous creates with one value exactly one gets 201', async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => post('/accounts', { email: `Race@Example.com`, nick: `n${i}` })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(29);
    const winner = results.find((r) => r.status === 201)!.headers.get('location');
    for (const r of results.filter((x) => x.status === 409)) {
      expect(await body(r)).toMatchObject({ code: 'unique-violation', fields: ['email'], existing: winner });
    }
    const list = await body(await server.request('/accounts?email=Race@Example.com'));
    expect(list['items']).toHaveLength(1);
  });

  it('compares Unicode case-folded values', async () => {
    expect((await post('/accounts', { email: 'strasse@example.com' })).status).toBe(201);
    expect((await post('/accounts', { email: 'STRAßE@example.com' })).status).toBe(409);
    expect((await post('/accounts', { email: 'ΣΟΦΙΑ@example.com' })).status).toBe(201);
    expect((await post('/accounts', { email: 'σοφια@example.com' })).status).toBe(409);
  });

  it('checks PUT and PATCH that change a unique field, and lets a resource keep its own value', async () => {
    await server.request('/accounts/u1', json({ email: 'one@example.com' }));
    await server.request('/accounts/u2', json({ email: 'two@example.com' }));
    const taken = await patch('/accounts/u2', { email: 'ONE@example.com' });
    expect(taken.status).toBe(409);
    expect(await body(taken)).toMatchObject({ code: 'unique-violation', existing: '/accounts/u1' });
    expect((await body(await server.request('/accounts/u2')))['email']).toBe('two@example.com');
    expect((await patch('/accounts/u1', { nick: 'first' })).status).toBe(200);
    expect((await server.request('/accounts/u1', json({ email: 'One@Example.com' }))).status).toBe(200);
  });

  it('scopes compound constraints and ignores missing fields; a delete releases the value', async () => {
    expect((await post('/accounts', { tier: 'gold', nick: 'ace' })).status).toBe(201);
    expect((await post('/accounts', { tier: 'silver', nick: 'ace' })).status).toBe(201);
    const dupRes = await post('/accounts', { tier: 'gold', nick: 'ace' });
    expect(dupRes.status).toBe(409);
    const dup = await body(dupRes);
    expect(dup).toMatchObject({ fields: ['tier', 'nick'], values: ['gold', 'ace'] });
    expect((await post('/accounts', { nick: 'ace' })).status).toBe(201);
    expect((await post('/accounts', { nick: 'ace' })).status).toBe(201);
    const holder = dup['existing'] as string;
    expect((await server.request(holder, { method: 'DELETE' })).status).toBe(204);
    expect((await post('/accounts', { tier: 'gold', nick: 'ace' })).status).toBe(201);
  });
});

describe('state machines', () => {
  it('starts new resources in the initial state and refuses any other', async () => {
    const t = await post('/tickets', {});
    expect(await body(t)).toMatchObject({ state: 'open' });
    const wrong = await post('/tickets', { state: 'closed' });
    expect(wrong.status).toBe(409);
    expect(await body(wrong)).toMatchObject({
      code: 'invalid-transition',
      currentState: null,
      allowedTransitions: [],
    });
  });

  it('runs named transitions, with guards, a merge-patch body and preconditions', async () => {
    const id = (await body(await post('/tickets', {})))['id'] as string;
    const unguarded = await server.request(`/tickets/${id}/_transitions/close`, { method: 'POST' });
    expect(unguarded.status).toBe(409);
    expect(await body(unguarded)).toMatchObject({
      code: 'transition-guard-failed',
      transition: 'close',
      errors: [{ pointer: '/reason' }],
    });
    const closed = await server.request(
      `/tickets/${id}/_transitions/close`,
      json({ reason: 'fixed' }, {}, 'POST'),
    );
    expect(closed.status).toBe(200);
    expect(await body(closed)).toMatchObject({ state: 'closed', reason: 'fixed', _version: 2 });
    const stale = await server.request(`/tickets/${id}/_transitions/reopen`, {
      method: 'POST',
      headers: { 'if-match': '"1-nope"' },
    });
    expect(stale.status).toBe(412);
    const again = await server.request(
      `/tickets/${id}/_transitions/close`,
      json({ reason: 'x' }, {}, 'POST'),
    );
    const refused = await body(again);
    expect(refused).toMatchObject({
      code: 'invalid-transition',
      currentState: 'closed',
      allowedTransitions: ['reopen', 'archive'],
    });
    expect(refused['detail']).toContain('already');
    const setsState = await server.request(
      `/tickets/${id}/_transitions/reopen`,
      json({ state: 'archived' }, {}, 'POST'),
    );
    expect(setsState.status).toBe(422);
    expect((await server.request(`/tickets/${id}/_transitions/explode`, { method: 'POST' })).status).toBe(
      404,
    );
    expect((await server.request(`/shelves/x/_transitions/close`, { method: 'POST' })).status).toBe(404);
    expect((await server.request(`/tickets/missing/_transitions/close`, { method: 'POST' })).status).toBe(
      404,
    );
  });

  it('checks state changes made through PUT and PATCH against the same table, guards included', async () => {
    const id = (await body(await post('/tickets', {})))['id'] as string;
    const skip = await patch(`/tickets/${id}`, { state: 'archived' });
    expect(skip.status).toBe(409);
    expect(await body(skip)).toMatchObject({
      code: 'invalid-transition',
      transition: 'archive',
      currentState: 'open',
      allowedTransitions: ['close'],
    });
    expect((await patch(`/tickets/${id}`, { state: 'closed' })).status).toBe(409); // guard: reason required
    const closed = await patch(`/tickets/${id}`, { state: 'closed', reason: 'dup' });
    expect(closed.status).toBe(200);
    expect((await patch(`/tickets/${id}`, { reason: 'duplicate' })).status).toBe(200); // state unchanged: no transition
  });

  it('shows the machine in the collection schema and the OpenAPI document', async () => {
    const schema = await server.request('/tickets/_schema');
    expect(schema.headers.get('content-type')).toMatch(/application\/schema\+json/);
    expect(await body(schema)).toMatchObject({
      title: 'tickets',
      'x-truce-states': {
        field: 'state',
        initial: 'open',
        states: ['open', 'closed', 'archived'],
        transitions: { close: { from: ['open'], to: 'closed', guard: { required: ['reason'] } } },
      },
    });
    const openapi = await body(await server.request('/_openapi.json'));
    const paths = openapi['paths'] as Record<
      string,
      { post?: { parameters: { name: string; schema: unknown }[] } }
    >;
    const names = paths['/tickets/{id}/_transitions/{name}']!.post!.parameters.find((p) => p.name === 'name');
    expect(names!.schema).toEqual({ enum: ['close', 'reopen', 'archive'] });
  });
});

describe('references', () => {
  it('never lets a delete and a concurrent insert of a referencing document both succeed', async () => {
    for (let round = 0; round < 40; round++) {
      const shelf = `s${round}`;
      await server.request(`/shelves/${shelf}`, json({}));
      const [del, add] = await Promise.all([
        server.request(`/shelves/${shelf}`, { method: 'DELETE' }),
        post('/books', { shelf }),
      ]);
      const outcome = `${del.status}/${add.status}`;
      expect(['204/422', '409/201']).toContain(outcome);
      if (add.status === 201) {
        expect((await server.request(`/shelves/${shelf}`)).status).toBe(200);
      } else {
        expect(await body(add)).toMatchObject({
          code: 'dangling-reference',
          pointer: '/shelf',
          collection: 'shelves',
          id: shelf,
        });
      }
    }
  });

  it('refuses references that are not ids, and moving a reference frees the old target', async () => {
    expect((await post('/books', { shelf: 42 })).status).toBe(422);
    await server.request('/shelves/a', json({}));
    await server.request('/shelves/b', json({}));
    await server.request('/books/bk', json({ shelf: 'a' }));
    expect((await server.request('/shelves/a', { method: 'DELETE' })).status).toBe(409);
    expect((await patch('/books/bk', { shelf: 'b' })).status).toBe(200);
    expect((await server.request('/shelves/a', { method: 'DELETE' })).status).toBe(204);
    expect((await patch('/books/bk', { shelf: null })).status).toBe(200);
    expect((await server.request('/shelves/b', { method: 'DELETE' })).status).toBe(204);
  });
});

describe('_increment', () => {
  it('with stock 10 and 100 concurrent decrements, exactly 10 succeed', async () => {
    await server.request('/counters/stock10', json({ n: 10 }));
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        server.request('/counters/stock10/_increment', json({ pointer: '/n', by: -1 }, {}, 'POST')),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    const refused = results.filter((r) => r.status === 409);
    expect(refused).toHaveLength(90);
    expect(await body(refused[0]!)).toMatchObject({
      code: 'insufficient',
      pointer: '/n',
      current: 0,
      by: -1,
      minimum: 0,
    });
    expect(await body(await server.request('/counters/stock10'))).toMatchObject({ n: 0, _version: 11 });
  });

  it('respects maximum and exclusive bounds, and creates a missing member from 0', async () => {
    await server.request('/stock/s', json({ qty: 99 }));
    const over = await server.request('/stock/s/_increment', json({ pointer: '/qty', by: 2 }, {}, 'POST'));
    expect(await body(over)).toMatchObject({ code: 'limit-exceeded', current: 99, by: 2, maximum: 100 });
    const cold = await server.request('/stock/s/_increment', json({ pointer: '/temp', by: -10 }, {}, 'POST'));
    expect(await body(cold)).toMatchObject({ code: 'insufficient', current: 0, minimum: -10 });
    const warm = await server.request('/stock/s/_increment', json({ pointer: '/temp', by: 2.5 }, {}, 'POST'));
    expect(await body(warm)).toMatchObject({ temp: 2.5, qty: 99 });
  });

  it('goes through full validation and compare-and-set when rules apply, still exact under concurrency', async () => {
    await server.request('/stock/r', json({ qty: 0, reserved: 0 }));
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        server.request('/stock/r/_increment', json({ pointer: '/reserved', by: 1 }, {}, 'POST')),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(await body(await server.request('/stock/r'))).toMatchObject({ reserved: 30, _version: 31 });
  });

  it('refuses bad increments clearly', async () => {
    await server.request('/stock/bad', json({ qty: 1, label: 'x' }));
    const inc = (b: unknown) => server.request('/stock/bad/_increment', json(b, {}, 'POST'));
    expect(await body(await inc({ pointer: '/qty', by: 0.5 }))).toMatchObject({
      code: 'validation-failed',
      errors: [{ pointer: '/by' }],
    });
    // A malformed increment document is a malformed request; a value the schema refuses is not valid.
    expect(await body(await inc({ pointer: 'qty', by: 1 }))).toMatchObject({
      code: 'malformed-request',
      errors: [{ pointer: '/pointer' }],
    });
    expect(await body(await inc({ pointer: '/_version', by: 1 }))).toMatchObject({
      code: 'malformed-request',
    });
    expect(await body(await inc({ pointer: '/label', by: 1 }))).toMatchObject({
      code: 'validation-failed',
      errors: [{ pointer: '/label' }],
    });
    expect(await body(await inc({ pointer: '/qty', by: 1, extra: true }))).toMatchObject({
      code: 'malformed-request',
      errors: [{ pointer: '/extra' }],
    });
    const huge = await server.request('/stock/big', json({ temp: 1e308 }));
    expect(huge.status).toBe(201);
    const overflow = await server.request(
      '/stock/big/_increment',
      json({ pointer: '/temp', by: 1e308 }, {}, 'POST'),
    );
    expect(await body(overflow)).toMatchObject({ code: 'limit-exceeded', maximum: Number.MAX_VALUE });
    expect(
      (await server.request('/stock/none/_increment', json({ pointer: '/qty', by: 1 }, {}, 'POST'))).status,
    ).toBe(404);
    const stale = await server.request(
      '/stock/bad/_increment',
      json({ pointer: '/qty', by: 1 }, { 'if-match': '"0-x"' }, 'POST'),
    );
    expect(stale.status).toBe(412);
    expect(await body(await server.request('/stock/bad'))).toMatchObject({ qty: 1, _version: 1 });
  });
});
