// U1: create load on a collection with unique constraints. Every request is `POST /members` with
// a body whose constrained values were never sent before, so every create succeeds (201) and each
// one pays for its unique-index entries: the e-mail, case-folded, and the (org, handle) pair. The
// reference side sends the same requests to the same collection without the `unique` lines (its
// own server and database), so the reference ratio is the price of the constraints alone.
/** Fresh values for the whole run, on every side. Zero-padded, so every body has the same size. */
let created = 0;

/** The body of the n-th create (about 210 bytes), mixed case so that case folding has work. */
export function memberBody(n) {
  const serial = String(n).padStart(8, '0');
  return JSON.stringify({
    email: `Member-${serial}@Example.COM`,
    org: `org-${String(n % 16).padStart(2, '0')}`,
    handle: `handle-${serial}`,
    name: 'Benchmark Member',
    active: true,
    note: 'A short note so that the body is not trivially small; the same bytes go everywhere.',
  });
}

/** @type {import('./scenario.mjs').Scenario} */
export const u1 = {
  id: 'U1',
  title: 'unique-constraint create (POST, fresh values), SQLite',
  connections: 64,
  resources: 0,
  sides: {
    baseline: { server: 'baseline', variant: 'members' },
    reference: { server: 'truce', variant: 'members-plain' },
    truce: { server: 'truce', variant: 'members-unique' },
  },
  target: undefined,
  expectedStatus: { baseline: 201, reference: 201, truce: 201 },
  load: { method: 'POST', headers: { 'content-type': 'application/json' } },

  requests() {
    return [
      {
        path: '/members',
        setupRequest(request) {
          created += 1;
          request.body = memberBody(created);
          return request;
        },
      },
    ];
  },
};
