import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

/*
 * Every business rule a write breaks is reported in one problem (issue 10, item 19): the first as
 * the problem's code and members (SPEC 3.4), all of them in `violations`.
 */

const SHOP = readFileSync(new URL('../../../../examples/shop/truce.yaml', import.meta.url), 'utf8');

/** What the shop cannot show: a collection with unique constraints and rules together. */
const MEMBERS = `
collections:
  members:
    schema:
      type: object
      properties: { email: { type: string }, handle: { type: string }, plan: { type: string }, seats: { type: integer } }
    unique:
      - { fields: [email], caseInsensitive: true }
      - { fields: [handle] }
    rules:
      - name: team-has-seats
        schema: { if: { properties: { plan: { const: team } }, required: [plan] }, then: { required: [seats] } }
        message: A team plan needs seats
      - name: handle-not-email
        schema: { not: { properties: { handle: { pattern: '@' } }, required: [handle] } }
        message: A handle is not an e-mail address
`;

type Body = Record<string, unknown> & { violations?: Record<string, unknown>[] };

let shop: TestServer;
let members: TestServer;
beforeAll(async () => {
  [shop, members] = await Promise.all([startTestServer(SHOP), startTestServer(MEMBERS)]);
});
afterAll(async () => {
  await Promise.all([shop?.close(), members?.close()]);
});

async function send(
  server: TestServer,
  path: string,
  init: RequestInit,
): Promise<{ res: Response; body: Body }> {
  const res = await server.request(path, init);
  const text = await res.text();
  return { res, body: text ? (JSON.parse(text) as Body) : {} };
}

/** The codes listed in `violations`, in order. */
const codes = (body: Body) => body.violations?.map((v) => v['code']);

describe('a write breaking several unique constraints', () => {
  it('lists every one; fixing one leaves the other reported (shop users)', async () => {
    const ann = await send(
      shop,
      '/users',
      json({ id: 'ann', email: 'Ann@Example.com', username: 'ann' }, {}, 'POST'),
    );
    expect(ann.res.status).toBe(201);

    const both = await send(shop, '/users', json({ email: 'ANN@example.com', username: 'ANN' }, {}, 'POST'));
    expect(both.res.status).toBe(409);
    expect(both.res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(both.res.headers.get('link')).toBe('</users/ann>; rel="latest-version"');
    // The first broken constraint, in configuration order, is the problem itself, as before.
    expect(both.body).toMatchObject({
      code: 'unique-violation',
      status: 409,
      fields: ['email'],
      values: ['ANN@example.com'],
      existing: '/users/ann',
      changedAt: expect.any(String),
      changedBy: null,
    });
    expect(both.body['detail']).toMatch(
      /^email "ANN@example.com" is already taken by \/users\/ann .* 1 more business rule/,
    );
    expect(both.body.violations).toStrictEqual([
      {
        code: 'unique-violation',
        detail: expect.stringMatching(/^email "ANN@example.com" is already taken by \/users\/ann/),
        fields: ['email'],
        values: ['ANN@example.com'],
        existing: '/users/ann',
        changedAt: both.body['changedAt'],
        changedBy: null,
      },
      {
        code: 'unique-violation',
        detail: expect.stringMatching(/^username "ANN" is already taken by \/users\/ann/),
        fields: ['username'],
        values: ['ANN'],
        existing: '/users/ann',
        changedAt: both.body['changedAt'],
        changedBy: null,
      },
    ]);

    const one = await send(shop, '/users', json({ email: 'annie@example.com', username: 'Ann' }, {}, 'POST'));
    expect(one.res.status).toBe(409);
    expect(one.body).toMatchObject({ code: 'unique-violation', fields: ['username'], values: ['Ann'] });
    expect(one.body['detail']).not.toMatch(/more business rule/);
    expect(codes(one.body)).toStrictEqual(['unique-violation']);
    expect(one.body.violations![0]).toMatchObject({ fields: ['username'], existing: '/users/ann' });

    const fine = await send(
      shop,
      '/users',
      json({ email: 'annie@example.com', username: 'annie' }, {}, 'POST'),
    );
    expect(fine.res.status).toBe(201);
  });

  it('lists them for an update too, but not the values the resource already holds', async () => {
    await send(shop, '/users', json({ id: 'bea', email: 'bea@example.com', username: 'bea' }, {}, 'POST'));
    const cy = await send(
      shop,
      '/users',
      json({ id: 'cy', email: 'cy@example.com', username: 'cy' }, {}, 'POST'),
    );
    const etag = cy.res.headers.get('etag')!;
    const patch = (body: unknown) =>
      send(shop, '/users/cy', {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json', 'if-match': etag },
        body: JSON.stringify(body),
      });
    const both = await patch({ email: 'BEA@example.com', username: 'bea' });
    expect(both.res.status).toBe(409);
    expect(both.res.headers.get('link')).toBe(
      '</users/cy>; rel="latest-version", </users/bea>; rel="related"',
    );
    expect(both.body.violations?.map((v) => v['fields'])).toStrictEqual([['email'], ['username']]);
    // cy keeps its own username: only the e-mail is in the way.
    const own = await patch({ email: 'bea@example.com', username: 'CY' });
    expect(own.body).toMatchObject({ code: 'unique-violation', fields: ['email'] });
    expect(codes(own.body)).toStrictEqual(['unique-violation']);
  });

  it('lists them when an atomic batch is refused at its commit', async () => {
    await send(shop, '/users', json({ id: 'dee', email: 'dee@example.com', username: 'dee' }, {}, 'POST'));
    const batch = await send(
      shop,
      '/_batch',
      json(
        {
          operations: [
            {
              method: 'PUT',
              path: '/users/fresh',
              headers: { 'If-None-Match': '*' },
              body: { email: 'x@example.com', username: 'xavier' },
            },
            { method: 'POST', path: '/users', body: { email: 'Dee@example.com', username: 'DEE' } },
          ],
        },
        {},
        'POST',
      ),
    );
    expect(batch.res.status, JSON.stringify(batch.body)).toBe(409);
    expect(batch.body).toMatchObject({ code: 'unique-violation', fields: ['email'], operationIndex: 1 });
    expect(batch.body.violations?.map((v) => v['fields'])).toStrictEqual([['email'], ['username']]);
    expect((await shop.request('/users/fresh')).status).toBe(404);
  });
});

describe('in an atomic batch, the operations before the refused one count as applied', () => {
  const batch = (operations: unknown[]) => send(shop, '/_batch', json({ operations }, {}, 'POST'));

  it('at the commit: a folder created and a name taken earlier in the batch', async () => {
    const res = await batch([
      { method: 'PUT', path: '/folders/batch-new', body: { name: 'new' } },
      { method: 'PUT', path: '/files/batch-a', body: { folder: 'batch-new', name: 'x.txt' } },
      { method: 'POST', path: '/files', body: { folder: 'batch-new', name: 'x.txt' } },
    ]);
    expect(res.res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body).toMatchObject({
      code: 'unique-violation',
      existing: '/files/batch-a',
      operationIndex: 2,
    });
    // Not a dangling reference: the folder is created by the batch's first operation.
    expect(codes(res.body)).toStrictEqual(['unique-violation']);
    expect((await shop.request('/folders/batch-new')).status).toBe(404);
  });

  it('before the commit: a value taken by an earlier operation', async () => {
    const res = await batch([
      {
        method: 'PUT',
        path: '/users/batch-x',
        headers: { 'If-None-Match': '*' },
        body: { email: 'batch-x@example.com', username: 'batch-x' },
      },
      {
        method: 'POST',
        path: '/users',
        body: { email: 'BATCH-X@example.com', username: 'batch-y', active: true },
      },
    ]);
    expect(res.res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body).toMatchObject({ code: 'invalid-transition', operationIndex: 1 });
    expect(codes(res.body)).toStrictEqual(['invalid-transition', 'unique-violation']);
    expect(res.body.violations![1]).toMatchObject({ fields: ['email'], existing: '/users/batch-x' });
  });
});

describe('a write breaking a unique constraint and a collection rule', () => {
  it('lists both, rules first; fixing one leaves the other reported', async () => {
    expect(
      (await send(members, '/members/m1', json({ email: 'm1@example.com', handle: 'one' }))).res.status,
    ).toBe(201);

    const all = await send(
      members,
      '/members',
      json({ email: 'M1@example.com', handle: 'one', plan: 'team' }, {}, 'POST'),
    );
    expect(all.res.status).toBe(409);
    expect(all.body).toMatchObject({
      code: 'rule-violated',
      rule: 'team-has-seats',
      message: 'A team plan needs seats',
      errors: expect.arrayContaining([{ pointer: '/seats', message: 'is required' }]),
      changedAt: null,
      changedBy: null,
    });
    expect(codes(all.body)).toStrictEqual(['rule-violated', 'unique-violation', 'unique-violation']);
    expect(all.body.violations![0]).toMatchObject({ code: 'rule-violated', rule: 'team-has-seats' });
    expect(all.body.violations![1]).toMatchObject({
      fields: ['email'],
      values: ['M1@example.com'],
      existing: '/members/m1',
    });
    expect(all.body.violations![2]).toMatchObject({
      fields: ['handle'],
      values: ['one'],
      existing: '/members/m1',
    });
    // Nothing was written.
    expect((await members.request('/members?handle=one')).ok).toBe(true);
    const listed = (await (await members.request('/members')).json()) as { items: unknown[] };
    expect(listed.items).toHaveLength(1);

    // The rule fixed: the unique constraints remain, reported by the store's refusal.
    const unique = await send(
      members,
      '/members',
      json({ email: 'M1@example.com', handle: 'one', plan: 'team', seats: 3 }, {}, 'POST'),
    );
    expect(unique.res.status).toBe(409);
    expect(unique.body).toMatchObject({ code: 'unique-violation', fields: ['email'] });
    expect(codes(unique.body)).toStrictEqual(['unique-violation', 'unique-violation']);

    // The unique values fixed: the rule remains.
    const rule = await send(
      members,
      '/members',
      json({ email: 'm2@example.com', handle: 'two', plan: 'team' }, {}, 'POST'),
    );
    expect(rule.res.status).toBe(409);
    expect(rule.body).toMatchObject({ code: 'rule-violated', rule: 'team-has-seats' });
    expect(codes(rule.body)).toStrictEqual(['rule-violated']);
  });

  it('checks every rule, not the first, and explains a `not` rule with its message', async () => {
    const res = await send(
      members,
      '/members',
      json({ email: 'r@example.com', handle: 'r@example.com', plan: 'team' }, {}, 'POST'),
    );
    expect(res.res.status).toBe(409);
    expect(codes(res.body)).toStrictEqual(['rule-violated', 'rule-violated']);
    expect(res.body.violations![1]).toStrictEqual({
      code: 'rule-violated',
      detail: 'A handle is not an e-mail address (rule "handle-not-email").',
      rule: 'handle-not-email',
      message: 'A handle is not an e-mail address',
      errors: [{ pointer: '', message: 'A handle is not an e-mail address' }],
      changedAt: null,
      changedBy: null,
    });
  });
});

describe('state changes and references', () => {
  it('a `not` rule of the shop says why in errors (settings)', async () => {
    const created = await send(shop, '/settings/shop', json({ turbo: true }));
    const res = await send(shop, '/settings/shop', {
      method: 'PATCH',
      headers: {
        'content-type': 'application/merge-patch+json',
        'if-match': created.res.headers.get('etag')!,
      },
      body: JSON.stringify({ eco: true }),
    });
    expect(res.res.status).toBe(409);
    expect(res.body).toMatchObject({
      code: 'rule-violated',
      rule: 'exclusive-modes',
      message: 'Turbo and eco modes cannot both be on',
      errors: [{ pointer: '', message: 'Turbo and eco modes cannot both be on' }],
    });
    expect(codes(res.body)).toStrictEqual(['rule-violated']);
  });

  it('a create in another state than the initial one is reported with its taken values', async () => {
    await send(shop, '/users', json({ id: 'eve', email: 'eve@example.com', username: 'eve' }, {}, 'POST'));
    const res = await send(
      shop,
      '/users',
      json({ email: 'EVE@example.com', username: 'evelyn', active: true }, {}, 'POST'),
    );
    expect(res.res.status).toBe(409);
    expect(res.body).toMatchObject({
      code: 'invalid-transition',
      currentState: null,
      allowedTransitions: [],
    });
    expect(codes(res.body)).toStrictEqual(['invalid-transition', 'unique-violation']);
    expect(res.body.violations![1]).toMatchObject({ fields: ['email'], existing: '/users/eve' });
  });

  it('a PUT that changes the state against the machine is reported with a dangling reference', async () => {
    await send(shop, '/users', json({ id: 'otto', email: 'otto@example.com', username: 'otto' }, {}, 'POST'));
    const order = await send(
      shop,
      '/orders/o1',
      json({ customer: 'otto', items: [{ sku: 'A', quantity: 1 }] }),
    );
    expect(order.res.status).toBe(201);
    const res = await send(
      shop,
      '/orders/o1',
      json(
        { customer: 'nobody', status: 'shipped', items: [{ sku: 'A', quantity: 1 }] },
        { 'if-match': order.res.headers.get('etag')! },
      ),
    );
    expect(res.res.status).toBe(409);
    expect(res.body).toMatchObject({
      code: 'invalid-transition',
      currentState: 'pending',
      transition: 'ship',
    });
    expect(res.body.violations).toStrictEqual([
      expect.objectContaining({ code: 'invalid-transition', currentState: 'pending' }),
      {
        code: 'dangling-reference',
        detail: 'customer refers to users/nobody, which does not exist.',
        pointer: '/customer',
        collection: 'users',
        id: 'nobody',
      },
    ]);
  });

  it('a dangling reference refused by the store is reported with the taken slot, at 422 (appointments)', async () => {
    await send(shop, '/users', json({ id: 'pat', email: 'pat@example.com', username: 'pat' }, {}, 'POST'));
    const slot = { room: 'blue', start: '2026-12-01T10:00:00Z' };
    expect(
      (await send(shop, '/appointments', json({ ...slot, customer: 'pat' }, {}, 'POST'))).res.status,
    ).toBe(201);
    const res = await send(shop, '/appointments', json({ ...slot, customer: 'ghost' }, {}, 'POST'));
    expect(res.res.status).toBe(422);
    expect(res.body).toMatchObject({
      code: 'dangling-reference',
      pointer: '/customer',
      collection: 'users',
      id: 'ghost',
    });
    expect(codes(res.body)).toStrictEqual(['dangling-reference', 'unique-violation']);
    expect(res.body.violations![1]).toMatchObject({
      fields: ['room', 'start'],
      values: ['blue', '2026-12-01T10:00:00Z'],
    });

    // The reference fixed, the slot is still taken.
    const taken = await send(shop, '/appointments', json({ ...slot, customer: 'pat' }, {}, 'POST'));
    expect(taken.res.status).toBe(409);
    expect(taken.body).toMatchObject({ code: 'unique-violation', fields: ['room', 'start'] });
    expect(codes(taken.body)).toStrictEqual(['unique-violation']);
  });

  it('schema errors still come alone, before any business rule', async () => {
    const res = await send(
      shop,
      '/users',
      json({ email: 'ann@example.com', username: 'a', active: true }, {}, 'POST'),
    );
    expect(res.res.status).toBe(422);
    expect(res.body['code']).toBe('validation-failed');
    expect(res.body.violations).toBeUndefined();
  });
});
