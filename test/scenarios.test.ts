import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../packages/server/src/testing/harness.js';

/**
 * SPEC 8 acceptance scenarios, end to end through HTTP against examples/shop/truce.yaml. Every
 * conflict body met on the way is kept and checked against scenario 18 at the end.
 */

type Problem = Record<string, unknown> & { code: string; status: number };
const seen: { scenario: number; res: Response; body: Problem }[] = [];

let shop: TestServer;
beforeAll(async () => {
  shop = await startTestServer(readFileSync(new URL('../examples/shop/truce.yaml', import.meta.url), 'utf8'));
});
afterAll(async () => shop.close());

const as = (actor: string, extra: Record<string, string> = {}) => ({ 'truce-actor': actor, ...extra });

async function send(
  path: string,
  init: RequestInit,
): Promise<{ res: Response; body: Record<string, unknown> }> {
  const res = await shop.request(path, init);
  const text = await res.text();
  return { res, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Sends a request expected to fail with `status` and `code`, and records the problem for scenario 18. */
async function conflict(
  scenario: number,
  path: string,
  init: RequestInit,
  status: number,
  code: string,
): Promise<Problem> {
  const { res, body } = await send(path, init);
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(body['code']).toBe(code);
  seen.push({ scenario, res, body: body as Problem });
  return body as Problem;
}

async function createUser(username: string, email: string): Promise<string> {
  return (await registerUser(username, email)).id;
}

async function registerUser(username: string, email: string): Promise<{ id: string; etag: string }> {
  const { res, body } = await send('/users', json({ username, email }, as('registrar'), 'POST'));
  expect(res.status, JSON.stringify(body)).toBe(201);
  return { id: body['id'] as string, etag: res.headers.get('etag')! };
}

async function activeUser(username: string): Promise<{ id: string; etag: string }> {
  const user = await registerUser(username, `${username}@example.com`);
  // users require preconditions: a transition is a write too.
  const { res } = await send(`/users/${user.id}/_transitions/activate`, {
    method: 'POST',
    headers: as('registrar', { 'if-match': user.etag }),
  });
  expect(res.status).toBe(200);
  return { id: user.id, etag: res.headers.get('etag')! };
}

describe('SPEC 8 scenarios against the shop example', () => {
  it('1. lost update prevented: the second of two If-Match writers gets 412 with the current state', async () => {
    const created = await send(
      '/products',
      json({ sku: 'S1-ANVIL', name: 'Anvil', price: 10, stock: 5 }, as('admin'), 'POST'),
    );
    const id = created.body['id'] as string;
    const a = await shop.request(`/products/${id}`);
    const b = await shop.request(`/products/${id}`);
    const etag = a.headers.get('etag')!;
    expect(b.headers.get('etag')).toBe(etag);
    const first = await send(
      `/products/${id}`,
      json({ sku: 'S1-ANVIL', name: 'Anvil', price: 12, stock: 5 }, as('alice', { 'if-match': etag })),
    );
    expect(first.res.status).toBe(200);
    const p = await conflict(
      1,
      `/products/${id}`,
      json({ sku: 'S1-ANVIL', name: 'Anvil', price: 9, stock: 5 }, as('bob', { 'if-match': etag })),
      412,
      'stale-write',
    );
    expect(p['current']).toMatchObject({ price: 12, _updatedBy: 'alice' });
    expect(p).toMatchObject({
      currentEtag: first.res.headers.get('etag'),
      changedBy: 'alice',
      yourEtag: etag,
    });
    expect(p['changes']).toEqual(expect.arrayContaining([{ op: 'replace', path: '/price', value: 12 }]));
  });

  it('2. a _version in the body that is out of date gives 409 version-conflict', async () => {
    const created = await send(
      '/products',
      json({ sku: 'S2-BOLT', name: 'Bolt', stock: 1 }, as('admin'), 'POST'),
    );
    const id = created.body['id'] as string;
    await send(`/products/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json', ...as('carol') },
      body: '{"stock":2}',
    });
    const p = await conflict(
      2,
      `/products/${id}`,
      json({ sku: 'S2-BOLT', name: 'Bolt', stock: 3, _version: 1 }, as('dave')),
      409,
      'version-conflict',
    );
    expect(p).toMatchObject({ currentVersion: 2, yourVersion: 1 });
    expect(p['current']).toMatchObject({ stock: 2 });
  });

  it('3. If-Unmodified-Since older than the last change gives 412', async () => {
    const created = await send('/products', json({ sku: 'S3-NUT', name: 'Nut' }, as('admin'), 'POST'));
    const id = created.body['id'] as string;
    const p = await conflict(
      3,
      `/products/${id}`,
      json(
        { sku: 'S3-NUT', name: 'Nut 2' },
        as('erin', { 'if-unmodified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' }),
      ),
      412,
      'stale-write',
    );
    expect(p).toMatchObject({ changedBy: 'admin' });
  });

  it('5. shipping a pending order gives 409 with the current state and what is allowed', async () => {
    const customer = await createUser('frank', 'frank@example.com');
    const order = await send(
      '/orders',
      json(
        { customer, items: [{ sku: 'S1-ANVIL', quantity: 1 }], address: '1 Main St' },
        as('frank'),
        'POST',
      ),
    );
    expect(order.body['status']).toBe('pending');
    const id = order.body['id'] as string;
    const p = await conflict(
      5,
      `/orders/${id}/_transitions/ship`,
      { method: 'POST', headers: as('warehouse') },
      409,
      'invalid-transition',
    );
    expect(p).toMatchObject({
      currentState: 'pending',
      transition: 'ship',
      allowedTransitions: ['pay', 'cancel'],
    });
    // Jumping the machine through PATCH is refused the same way.
    await conflict(
      5,
      `/orders/${id}`,
      {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json' },
        body: '{"status":"shipped"}',
      },
      409,
      'invalid-transition',
    );
    // The guard: shipping a paid order with no address.
    const bare = await send(
      '/orders',
      json({ customer, items: [{ sku: 'S1-ANVIL', quantity: 1 }] }, as('frank'), 'POST'),
    );
    const bareId = bare.body['id'] as string;
    expect((await send(`/orders/${bareId}/_transitions/pay`, { method: 'POST' })).res.status).toBe(200);
    const guard = await conflict(
      5,
      `/orders/${bareId}/_transitions/ship`,
      { method: 'POST' },
      409,
      'transition-guard-failed',
    );
    expect(guard).toMatchObject({
      transition: 'ship',
      errors: [{ pointer: '/address', message: expect.any(String) }],
    });
    // With the address given in the transition body, in the same atomic write.
    const shipped = await send(`/orders/${bareId}/_transitions/ship`, {
      method: 'POST',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: '{"address":"2 Side St"}',
    });
    expect(shipped.res.status).toBe(200);
    expect(shipped.body).toMatchObject({ status: 'shipped', address: '2 Side St', _version: 3 });
  });

  it('6. activating an already active account gives 409', async () => {
    const { id, etag } = await activeUser('gina');
    const p = await conflict(
      6,
      `/users/${id}/_transitions/activate`,
      { method: 'POST', headers: as('gina', { 'if-match': etag }) },
      409,
      'invalid-transition',
    );
    expect(p).toMatchObject({
      currentState: true,
      transition: 'activate',
      allowedTransitions: ['deactivate'],
    });
    expect(p['detail']).toContain('already');
  });

  it('7. deleting a folder that still has files gives 409 and lists them', async () => {
    const folder = await send('/folders', json({ name: 'reports' }, {}, 'POST'));
    const folderId = folder.body['id'] as string;
    const files: string[] = [];
    for (const name of ['q1.pdf', 'q2.pdf', 'q3.pdf']) {
      const f = await send('/files', json({ folder: folderId, name }, {}, 'POST'));
      files.push(f.res.headers.get('location')!);
    }
    const p = await conflict(7, `/folders/${folderId}`, { method: 'DELETE' }, 409, 'still-referenced');
    expect(p['referencedBy']).toEqual([{ collection: 'files', count: 3, examples: [...files].sort() }]);
    for (const f of files) expect((await shop.request(f, { method: 'DELETE' })).status).toBe(204);
    expect((await shop.request(`/folders/${folderId}`, { method: 'DELETE' })).status).toBe(204);
    // A file may not point at a folder that is gone.
    const dangling = await conflict(
      7,
      '/files',
      json({ folder: folderId, name: 'late.pdf' }, {}, 'POST'),
      422,
      'dangling-reference',
    );
    expect(dangling).toMatchObject({ pointer: '/folder', collection: 'folders', id: folderId });
  });

  it('8. booking a taken appointment slot gives 409 naming the holder', async () => {
    const hank = await createUser('hank', 'hank@example.com');
    const ivy = await createUser('ivy', 'ivy@example.com');
    const slot = { room: 'blue', start: '2026-12-01T10:00:00Z' };
    const first = await send('/appointments', json({ ...slot, customer: hank }, as('hank'), 'POST'));
    expect(first.res.status).toBe(201);
    const p = await conflict(
      8,
      '/appointments',
      json({ ...slot, customer: ivy }, as('ivy'), 'POST'),
      409,
      'unique-violation',
    );
    expect(p).toMatchObject({
      fields: ['room', 'start'],
      values: ['blue', '2026-12-01T10:00:00Z'],
      existing: first.res.headers.get('location'),
    });
    const other = await send(
      '/appointments',
      json({ ...slot, start: '2026-12-01T11:00:00Z', customer: ivy }, as('ivy'), 'POST'),
    );
    expect(other.res.status).toBe(201);
  });

  it('9. a taken username or e-mail, in any letter case, gives 409 naming the field', async () => {
    const id = await createUser('Jules', 'Jules@Example.com');
    const email = await conflict(
      9,
      '/users',
      json({ username: 'jules2', email: 'JULES@example.COM' }, {}, 'POST'),
      409,
      'unique-violation',
    );
    expect(email).toMatchObject({
      fields: ['email'],
      values: ['JULES@example.COM'],
      existing: `/users/${id}`,
    });
    const username = await conflict(
      9,
      '/users',
      json({ username: 'JULES', email: 'other@example.com' }, {}, 'POST'),
      409,
      'unique-violation',
    );
    expect(username).toMatchObject({ fields: ['username'], existing: `/users/${id}` });
  });

  it('10. enabling a feature that excludes an enabled one gives 409 rule-violated', async () => {
    const s = await send('/settings', json({ turbo: true }, {}, 'POST'));
    const id = s.body['id'] as string;
    const p = await conflict(
      10,
      `/settings/${id}`,
      { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: '{"eco":true}' },
      409,
      'rule-violated',
    );
    expect(p).toMatchObject({ rule: 'exclusive-modes', message: 'Turbo and eco modes cannot both be on' });
    expect(Array.isArray(p['errors'])).toBe(true);
  });

  it('11. the last item bought by two customers at once: one order, one 409 insufficient, stock never negative', async () => {
    const product = await send(
      '/products',
      json({ sku: 'S11-LAST', name: 'Last one', stock: 1 }, {}, 'POST'),
    );
    const pid = product.body['id'] as string;
    const kim = await createUser('kim', 'kim@example.com');
    const lee = await createUser('lee', 'lee@example.com');
    const buy = async (customer: string) => {
      const taken = await shop.request(
        `/products/${pid}/_increment`,
        json({ pointer: '/stock', by: -1 }, as(customer), 'POST'),
      );
      if (taken.status !== 200) return taken;
      const order = await shop.request(
        '/orders',
        json({ customer, items: [{ sku: 'S11-LAST', quantity: 1 }] }, as(customer), 'POST'),
      );
      expect(order.status).toBe(201);
      return taken;
    };
    const results = await Promise.all([buy(kim), buy(lee)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const loser = results.find((r) => r.status === 409)!;
    const p = (await loser.json()) as Problem;
    seen.push({ scenario: 11, res: loser, body: p });
    expect(p).toMatchObject({ code: 'insufficient', pointer: '/stock', current: 0, by: -1, minimum: 0 });
    const all = (await (await shop.request('/orders?limit=1000')).json()) as {
      items: { items: { sku: string }[] }[];
    };
    expect(all.items.filter((o) => o.items[0]!.sku === 'S11-LAST')).toHaveLength(1);
    const after = (await (await shop.request(`/products/${pid}`)).json()) as { stock: number };
    expect(after.stock).toBe(0);
  });

  it('12. two people edit one document: disjoint edits merge, overlapping ones list every field', async () => {
    const doc = await send(
      '/documents/plan',
      json({ title: 'Plan', body: 'intro\nbudget: 10\nend\n', tags: ['draft'] }, as('gail')),
    );
    const base = doc.res.headers.get('etag')!;
    const patch = (body: unknown, actor: string) => ({
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json', 'truce-base': base, ...as(actor) },
      body: JSON.stringify(body),
    });
    const gail = await send('/documents/plan', patch({ title: 'Plan 2027', tags: ['draft', 'q1'] }, 'gail'));
    expect(gail.res.status).toBe(200);
    const hugo = await send(
      '/documents/plan',
      patch({ body: 'intro\nbudget: 12\nend\n', tags: ['draft', 'finance'] }, 'hugo'),
    );
    expect(hugo.res.status).toBe(200);
    expect(hugo.res.headers.get('truce-merged')).toBe(base);
    expect(hugo.body).toMatchObject({
      title: 'Plan 2027',
      body: 'intro\nbudget: 12\nend\n',
      tags: ['draft', 'q1', 'finance'],
    });
    const p = await conflict(
      12,
      '/documents/plan',
      patch({ title: 'Plan 2026', body: 'intro\nbudget: 11\nend\n' }, 'ines'),
      409,
      'edit-conflict',
    );
    const conflicts = p['conflicts'] as {
      pointer: string;
      base: unknown;
      yours: unknown;
      theirs: unknown;
      changedBy: string;
    }[];
    expect(conflicts.map((c) => [c.pointer, c.changedBy]).sort()).toEqual([
      ['/body', 'hugo'],
      ['/title', 'gail'],
    ]);
    expect(conflicts.find((c) => c.pointer === '/title')).toMatchObject({
      base: 'Plan',
      yours: 'Plan 2026',
      theirs: 'Plan 2027',
    });
  });

  it('15. a create retried after a lost response is not duplicated', async () => {
    const customer = await createUser('jane', 'jane@example.com');
    const order = { customer, items: [{ sku: 'S1-ANVIL', quantity: 2 }] };
    const first = await send('/orders', json(order, { 'idempotency-key': '"jane-order-1"' }, 'POST'));
    expect(first.res.status).toBe(201);
    const retry = await send('/orders', json(order, { 'idempotency-key': '"jane-order-1"' }, 'POST'));
    expect(retry.res.status).toBe(201);
    expect(retry.res.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.res.headers.get('location')).toBe(first.res.headers.get('location'));
    const mine = (await (await shop.request(`/orders?customer=${customer}`)).json()) as { items: unknown[] };
    expect(mine.items).toHaveLength(1);
    // The other way: a client-chosen id, created only if absent.
    const put = () => shop.request('/orders/jane-2', json(order, { 'if-none-match': '*' }));
    expect((await put()).status).toBe(201);
    await conflict(15, '/orders/jane-2', json(order, { 'if-none-match': '*' }), 412, 'already-exists');
  });

  it('16. reserving stock and creating the order apply all or nothing', async () => {
    const product = await send('/products', json({ sku: 'S16-KIT', name: 'Kit', stock: 1 }, {}, 'POST'));
    const pid = product.body['id'] as string;
    const customer = await createUser('kai', 'kai@example.com');
    const reserve = (who: string) =>
      json(
        {
          operations: [
            { method: 'POST', path: `/products/${pid}/_increment`, body: { pointer: '/stock', by: -1 } },
            {
              method: 'POST',
              path: '/orders',
              body: { customer: who, items: [{ sku: 'S16-KIT', quantity: 1 }] },
            },
          ],
        },
        {},
        'POST',
      );
    // The order part fails (no such customer): the reservation is not applied either.
    const broken = await conflict(16, '/_batch', reserve('ghost'), 422, 'dangling-reference');
    expect(broken['operationIndex']).toBe(1);
    expect(((await (await shop.request(`/products/${pid}`)).json()) as { stock: number }).stock).toBe(1);
    const ok = await send('/_batch', reserve(customer));
    expect(ok.res.status).toBe(200);
    const sold = await conflict(16, '/_batch', reserve(customer), 409, 'insufficient');
    expect(sold['operationIndex']).toBe(0);
    expect(((await (await shop.request(`/products/${pid}`)).json()) as { stock: number }).stock).toBe(0);
  });

  it('13. a branch moves only from the commit it points to (non-fast-forward refused)', async () => {
    const put = await send('/refs/main', json({ commit: 'aaaaaaa' }, { 'if-none-match': '*' }));
    expect(put.res.status).toBe(201);
    const move = (from: string, to: string) => ({
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([
        { op: 'test', path: '/commit', value: from },
        { op: 'replace', path: '/commit', value: to },
      ]),
    });
    expect((await send('/refs/main', move('aaaaaaa', 'bbbbbbb'))).res.status).toBe(200);
    const p = await conflict(13, '/refs/main', move('aaaaaaa', 'ccccccc'), 409, 'test-failed');
    expect(p).toMatchObject({ pointer: '/commit', expected: 'aaaaaaa', actual: 'bbbbbbb' });
    // The same guarantee with If-Match, and a blind move is refused outright.
    await conflict(
      13,
      '/refs/main',
      json({ commit: 'ddddddd' }, { 'if-match': put.res.headers.get('etag')! }),
      412,
      'stale-write',
    );
    await conflict(13, '/refs/main', json({ commit: 'ddddddd' }), 428, 'precondition-required');
  });

  it('14. two VMs with one name in one region: one 409; the same name in another region is fine', async () => {
    const first = await send('/vms', json({ region: 'eu-west', name: 'web-1' }, as('ops'), 'POST'));
    expect(first.res.status).toBe(201);
    const p = await conflict(
      14,
      '/vms',
      json({ region: 'eu-west', name: 'web-1' }, as('ops2'), 'POST'),
      409,
      'unique-violation',
    );
    expect(p).toMatchObject({
      fields: ['region', 'name'],
      values: ['eu-west', 'web-1'],
      existing: first.res.headers.get('location'),
    });
    expect((await send('/vms', json({ region: 'us-east', name: 'web-1' }, {}, 'POST'))).res.status).toBe(201);
  });

  it('18. every conflict body says what, why, since when, by whom, and what to do next', async () => {
    const scenarios = new Set(seen.map((s) => s.scenario));
    expect([...scenarios].sort((a, b) => a - b)).toEqual([
      1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    ]);
    for (const { scenario, body } of seen) {
      const where = `scenario ${scenario} ${body.code}`;
      // What: a stable code and a title; why: a detail; what next: resolution and a documented type.
      for (const member of [
        'type',
        'title',
        'status',
        'detail',
        'instance',
        'code',
        'retryable',
        'resolution',
      ]) {
        expect(body, where).toHaveProperty(member);
      }
      expect((body['detail'] as string).length, where).toBeGreaterThan(20);
      const doc = await shop.request(body['type'] as string, { headers: { accept: 'application/json' } });
      expect(doc.status, where).toBe(200);
      expect(((await doc.json()) as { code: string }).code).toBe(body.code);
      // Since when and by whom: every conflict with existing state says when it was written and by whom.
      const aboutState = [
        'stale-write',
        'version-conflict',
        'unique-violation',
        'invalid-transition',
        'transition-guard-failed',
        'rule-violated',
        'insufficient',
        'limit-exceeded',
        'already-exists',
      ];
      if (aboutState.includes(body.code)) {
        expect(body['changedAt'], where).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT/));
        expect(body, where).toHaveProperty('changedBy');
      }
      if (body.code === 'unique-violation') expect(body['existing'], where).toMatch(/^\//);
      if (body.code === 'invalid-transition') expect(body, where).toHaveProperty('currentState');
      if (body.code === 'version-conflict') expect(body['current'], where).toHaveProperty('_updatedAt');
    }
    // Every 409 and 412 links to the latest version of what stood in the way.
    for (const { res, body } of seen) {
      if (res.status === 409 || res.status === 412) {
        if (!res.headers.get('link')) throw new Error(`no Link on ${body.code}: ${body['detail'] as string}`);
        expect(res.headers.get('link'), `${body.code}: ${body['detail'] as string}`).toMatch(
          /rel="latest-version"/,
        );
      }
    }
  });
});
