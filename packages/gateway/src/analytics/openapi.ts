/** The analytics routes' part of the admin API's OpenAPI document (SPEC 5.4), merged in admin/openapi.ts. */

type Schema = Record<string, unknown>;

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const ok = (schema: Schema) => ({ description: 'OK', content: { 'application/json': { schema } } });
const q = (name: string, description: string, schema: Schema = { type: 'string' }) => ({
  name,
  in: 'query',
  description,
  schema,
});
const count = { type: 'integer' };
const ms = { type: ['number', 'null'], description: 'Milliseconds; null without calls.' };
const counts = { type: 'object', additionalProperties: count };
const date = { type: ['string', 'null'], format: 'date-time' };
const items = (properties: Record<string, Schema>) => ({
  type: 'object',
  required: ['items'],
  properties: {
    items: { type: 'array', items: { type: 'object', required: Object.keys(properties), properties } },
  },
});
/** Items and, when a count may be short (key roll-ups past their top-K), by how much at most. */
const approximate = (properties: Record<string, Schema>, fields: readonly string[]) => {
  const schema = items(properties);
  return {
    ...schema,
    properties: {
      ...schema.properties,
      error: {
        type: 'object',
        description:
          'Present when a count came from key roll-ups that cut keys: each listed count may be short of the true one by at most this much, never over it.',
        properties: Object.fromEntries(fields.map((f) => [f, count])),
      },
    },
  };
};
const window = [
  q('since', 'ISO 8601 time (inclusive); default an hour before until.'),
  q('until', 'ISO 8601 time (exclusive); default now.'),
];
const errors = {
  '400': problem('A parameter is malformed (`malformed-request`).'),
  '401': problem('No or wrong admin key (`unauthenticated`).'),
};
const get = (summary: string, parameters: Schema[], schema: Schema) => ({
  get: { summary, parameters, responses: { '200': ok(schema), ...errors } },
});

/** `/analytics/*` path items. */
export const analyticsPaths = {
  '/analytics/summary': get(
    'Calls, errors, conflicts and latency percentiles over a window',
    [q('route', 'Route name.'), ...window],
    {
      type: 'object',
      required: ['calls', 'errors', 'conflicts', 'conflictRate', 'p50', 'p95', 'p99', 'byStatus', 'byCode'],
      properties: {
        calls: count,
        errors: count,
        conflicts: count,
        conflictRate: { type: 'number' },
        p50: ms,
        p95: ms,
        p99: ms,
        byStatus: counts,
        byCode: counts,
      },
    },
  ),
  '/analytics/series': get(
    'The same per step, ascending',
    [q('route', 'Route name.'), ...window, q('step', 'A duration of whole seconds (default 1m).')],
    items({
      time: { type: 'string', format: 'date-time' },
      calls: count,
      errors: count,
      conflicts: count,
      p50: ms,
      p95: ms,
      p99: ms,
    }),
  ),
  '/analytics/hotspots': get(
    'Resources, routes or consumers with the most conflicts',
    [
      q('by', 'resource (default), route or consumer.', { enum: ['resource', 'route', 'consumer'] }),
      ...window,
      q('limit', 'At most this many (default 50, at most 1000).', {
        type: 'integer',
        minimum: 1,
        maximum: 1000,
      }),
    ],
    approximate(
      {
        key: { type: 'string' },
        conflicts: count,
        calls: count,
        byCode: counts,
        lastAt: { type: 'string', format: 'date-time' },
      },
      ['conflicts', 'calls'],
    ),
  ),
  '/analytics/unconditional': get(
    'Per consumer: writes, unconditional writes, and those near another consumer’s write of the resource',
    window,
    approximate(
      { consumer: { type: ['string', 'null'] }, writes: count, unconditional: count, overlapping: count },
      ['writes', 'unconditional', 'overlapping'],
    ),
  ),
  '/analytics/retries': get(
    'Per consumer: retries, those before Retry-After, and blind repeats of a 409 or 412',
    window,
    approximate({ consumer: { type: ['string', 'null'] }, retries: count, early: count, blind: count }, [
      'retries',
      'early',
      'blind',
    ]),
  ),
  '/analytics/lifecycle': get(
    'Per route with a deprecation or sunset date: each consumer’s calls, 410s after the sunset, last call',
    [q('route', 'Route name.'), ...window],
    items({
      route: { type: 'string' },
      deprecated: date,
      sunset: date,
      link: { type: ['string', 'null'], description: 'The successor (`lifecycle.link`).' },
      calls: count,
      gone: { ...count, description: 'Calls answered 410 `sunset`.' },
      consumers: {
        type: 'array',
        description: 'Most calls first; whole minutes of the window, from the lifecycle roll-ups.',
        items: {
          type: 'object',
          required: ['consumer', 'calls', 'gone', 'lastAt'],
          properties: {
            consumer: { type: ['string', 'null'] },
            calls: count,
            gone: count,
            lastAt: { type: 'string', format: 'date-time' },
          },
        },
      },
    }),
  ),
  '/analytics/usage': (() => {
    const key = { type: ['string', 'null'], description: 'Null when the report does not group by it.' };
    const sums = {
      calls: count,
      errors: { ...count, description: 'Calls answered 5xx.' },
      tokensIn: count,
      tokensOut: count,
      cost: { type: 'number', description: 'Of the priced calls, in the price table’s currency.' },
      unpriced: { ...count, description: 'Calls whose model has no price (not in `cost`).' },
    };
    const schema = items({ consumer: key, route: key, provider: key, model: key, ...sums });
    return get(
      'AI calls’ tokens and cost per consumer, route and/or model, most cost first (raw calls only)',
      [
        q('by', 'consumer, route, model or a comma-separated set of them (default consumer,model).'),
        q('route', 'Route name.'),
        q('consumer', 'Consumer name.'),
        ...window,
      ],
      {
        ...schema,
        required: ['items', 'totals'],
        properties: {
          ...schema.properties,
          totals: { type: 'object', required: Object.keys(sums), properties: sums },
        },
      },
    );
  })(),
};

/** `staleBy` in `GET /calls/{id}`: the write that made a conflict's version stale. */
export const staleBySchema = {
  type: ['object', 'null'],
  description: 'On a 409 or 412 with a resource: the last successful write on it before this call.',
  properties: {
    id: { type: 'string' },
    consumer: { type: ['string', 'null'] },
    time: { type: 'string', format: 'date-time' },
  },
};
