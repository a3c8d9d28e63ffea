/** The alert routes' part of the admin API's OpenAPI document (admin/openapi.ts merges it in). */

const problem = {
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};
const errors = {
  '400': { description: 'Malformed request (`malformed-request`).', ...problem },
  '401': { description: 'No or wrong admin key (`unauthenticated`).', ...problem },
};
const listOf = (name: string) => ({
  type: 'object',
  required: ['items', 'next'],
  properties: {
    items: { type: 'array', items: { $ref: `#/components/schemas/${name}` } },
    next: { type: 'null' },
  },
});

export const alertPaths = {
  '/alerts': {
    get: {
      summary: 'Every alert rule with its state, value and samples at the last evaluation',
      responses: {
        '200': { description: 'OK', content: { 'application/json': { schema: listOf('AlertRule') } } },
        ...errors,
      },
    },
  },
  '/alerts/events': {
    get: {
      summary: 'Alert events: a Server-Sent Events stream, or the recent ones with ?format=json',
      parameters: [
        {
          name: 'format',
          in: 'query',
          description: '`json` for the recent events',
          schema: { enum: ['json'] },
        },
        {
          name: 'Last-Event-ID',
          in: 'header',
          description: 'Resume after this event id (the stream first sends the kept events after it).',
          schema: { type: 'integer' },
        },
        {
          name: 'after',
          in: 'query',
          description: 'With format=json: only events after this id.',
          schema: { type: 'integer' },
        },
      ],
      responses: {
        '200': {
          description: '`event: fire` / `event: resolve`, `id:` the event id, `data:` an AlertEvent',
          content: {
            'text/event-stream': { schema: { type: 'string' } },
            'application/json': { schema: listOf('AlertEvent') },
          },
        },
        '503': { description: 'As many streams open as allowed (`busy`, with Retry-After).', ...problem },
        ...errors,
      },
    },
  },
};

const time = { type: 'string', format: 'date-time' };
const metric = { enum: ['conflict-rate', 'error-rate', 'p99', 'hotspot'] };
const value = {
  type: ['number', 'null'],
  description:
    'A fraction for rates, ms for p99 (null without calls), conflicts on one resource for hotspot.',
};

export const alertSchemas = {
  AlertRule: {
    type: 'object',
    required: [
      'name',
      'metric',
      'route',
      'windowMs',
      'minSamples',
      'above',
      'state',
      'value',
      'samples',
      'since',
    ],
    properties: {
      name: { type: 'string' },
      metric,
      route: { type: ['string', 'null'] },
      windowMs: { type: 'integer' },
      minSamples: { type: 'integer' },
      above: { type: 'number' },
      state: { enum: ['ok', 'firing'] },
      value,
      samples: { type: 'integer', description: 'Calls in the window.' },
      since: { ...time, description: 'When the rule entered its state.' },
      resource: { type: ['string', 'null'], description: 'Hotspot rules: the resource with most conflicts.' },
    },
  },
  AlertEvent: {
    type: 'object',
    required: ['event', 'rule', 'metric', 'route', 'value', 'above', 'samples', 'time'],
    properties: {
      id: { type: 'integer', description: 'In the JSON list only; the SSE `id:` field otherwise.' },
      event: { enum: ['fire', 'resolve'] },
      rule: { type: 'string' },
      metric,
      route: { type: ['string', 'null'] },
      value,
      above: { type: 'number' },
      samples: { type: 'integer' },
      time,
      resource: { type: ['string', 'null'] },
    },
  },
};
