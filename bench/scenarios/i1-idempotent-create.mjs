// I1: the price of an Idempotency-Key (SPEC 3.8) on creates. Every request is `POST /notes` with
// a fresh body (its `ref` never sent before in the run); the `truce` side adds a fresh
// `Idempotency-Key` to each, so the server claims the key, runs the create and stores the answer
// with it in the same transaction. The `baseline` side is the same server setup without the
// header: Truce's plain POST, not a bare Fastify route, so the ratio is the share of plain POST's
// throughput that idempotent POSTs keep. Every create must answer 201.
//
// After the measurement, a few of the keyed creates are sent again with the same key and body:
// each must be replayed (201, `Idempotent-Replayed: true`, the first answer's Location, ETag and
// body), and the collection must still hold exactly one note with that `ref`.
/** Fresh values for the whole run, on both sides. */
let created = 0;
/** Replay checks after the measurement, on keys spread over the run. */
const SAMPLES = 5;
const SAMPLE_EVERY = 1000;

/** The body of the n-th create (about 190 bytes); zero-padded, so every body has the same size. */
export function noteBody(n) {
  return JSON.stringify({
    ref: `note-${String(n).padStart(8, '0')}`,
    title: 'benchmark note',
    tags: ['alpha', 'beta', 'gamma'],
    note: 'A short note so that the body is not trivially small; the same bytes go to both sides.',
  });
}

/** @type {import('./scenario.mjs').Scenario} */
export const i1 = {
  id: 'I1',
  title: 'idempotent POST (fresh Idempotency-Key per create) vs plain POST, SQLite',
  connections: 64,
  resources: 0,
  sides: {
    baseline: { server: 'truce', variant: 'notes', label: 'plain POST' },
    truce: { server: 'truce', variant: 'notes', label: 'POST with Idempotency-Key' },
  },
  target: undefined,
  expectedStatus: { baseline: 201, truce: 201 },
  load: { method: 'POST', headers: { 'content-type': 'application/json' } },

  requests(_resources, side) {
    const keyed = side.name === 'truce';
    side.samples ??= [];
    return [
      {
        path: '/notes',
        setupRequest(request, context) {
          created += 1;
          request.body = noteBody(created);
          if (keyed) {
            const key = `bench-${String(created).padStart(8, '0')}`;
            request.headers['idempotency-key'] = key;
            context.sent = { n: created, key, body: request.body };
          }
          return request;
        },
        onResponse(status, body, context, headers) {
          const { sent } = context;
          if (!keyed || status !== 201 || side.samples.length >= SAMPLES || sent.n % SAMPLE_EVERY !== 1)
            return;
          side.samples.push({ ...sent, location: headers.location, etag: headers.etag, answer: body });
        },
      },
    ];
  },

  /** The replay check, on the keyed side: problems make the row invalid. */
  async verify(side) {
    if (side.name !== 'truce') return undefined;
    const checks =
      `${side.samples.length} keyed creates re-sent with their key and body: each replayed (201, ` +
      'Idempotent-Replayed: true, the first Location, ETag and body), still one note per ref';
    if (side.samples.length === 0)
      return { checks, problems: ['no keyed create was sampled for the replay check'] };
    const problems = [];
    for (const sample of side.samples) {
      const replayed = await globalThis.fetch(`${side.server.url}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': sample.key },
        body: sample.body,
      });
      const answer = await replayed.text();
      const same = (name, first) => replayed.headers.get(name) === first;
      if (replayed.status !== 201) problems.push(`replay of ${sample.key} answered ${replayed.status}`);
      else if (replayed.headers.get('idempotent-replayed') !== 'true')
        problems.push(`replay of ${sample.key} was not marked Idempotent-Replayed: true`);
      else if (!same('location', sample.location) || !same('etag', sample.etag) || answer !== sample.answer)
        problems.push(`replay of ${sample.key} answered another Location, ETag or body than the first time`);
      const { ref } = JSON.parse(sample.body);
      const list = await globalThis.fetch(`${side.server.url}/notes?ref=${ref}`);
      const { items } = await list.json();
      if (list.status !== 200 || items.length !== 1)
        problems.push(
          `after replaying ${sample.key}, ${items?.length ?? list.status} notes have ref ${ref}, not 1`,
        );
    }
    return { checks, problems };
  },
};
