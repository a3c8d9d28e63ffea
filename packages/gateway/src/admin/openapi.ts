/**
 * The OpenAPI 3.1 document of the admin API (SPEC 5.4), served at `GET /openapi.json` on the admin
 * port. Written as data: one entry per route with its parameters, body and answers.
 */

import { alertPaths, alertSchemas } from '../alerts/openapi.js';
import { analyticsPaths, staleBySchema } from '../analytics/openapi.js';

type Schema = Record<string, unknown>;

const problem = { $ref: '#/components/schemas/Problem' };
const problemAnswer = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problem } },
});
const json = (schema: Schema, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const list = (item: Schema) =>
  json({
    type: 'object',
    required: ['items', 'next'],
    properties: { items: { type: 'array', items: item }, next: { type: ['string', 'null'] } },
  });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const path = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});
const query = (name: string, description: string, schema: Schema = { type: 'string' }) => ({
  name,
  in: 'query',
  description,
  schema,
});
const paging = [
  query('limit', 'Items per page (default 50, at most 1000).', {
    type: 'integer',
    minimum: 1,
    maximum: 1000,
  }),
  query('cursor', 'The `next` of the previous page.'),
];
const errors = {
  '400': problemAnswer('Malformed request (`malformed-request`).'),
  '401': problemAnswer('No or wrong admin key (`unauthenticated`).'),
};
const consumerId = path('id', 'The consumer id or name.');

const paths = {
  '/consumers': {
    post: {
      summary: 'Create a consumer',
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
          },
        },
      },
      responses: {
        '201': json(ref('Consumer'), 'Created'),
        '409': problemAnswer('The name is taken (`already-exists`).'),
        '422': problemAnswer('Invalid name.'),
        ...errors,
      },
    },
    get: {
      summary: 'List consumers',
      parameters: paging,
      responses: { '200': list(ref('Consumer')), ...errors },
    },
  },
  '/consumers/{id}': {
    get: {
      summary: 'One consumer',
      parameters: [consumerId],
      responses: { '200': json(ref('Consumer')), '404': problemAnswer('No such consumer.'), ...errors },
    },
    delete: {
      summary: 'Delete a consumer; its keys stop at once',
      parameters: [consumerId],
      responses: { '204': { description: 'Deleted' }, '404': problemAnswer('No such consumer.'), ...errors },
    },
  },
  '/consumers/{id}/keys': {
    post: {
      summary: 'Create a key; the key appears only in this answer',
      parameters: [consumerId],
      responses: {
        '201': json(ref('NewKey'), 'Created'),
        '404': problemAnswer('No such consumer.'),
        ...errors,
      },
    },
    get: {
      summary: "List a consumer's keys (never the keys themselves)",
      parameters: [consumerId, ...paging],
      responses: { '200': list(ref('Key')), ...errors },
    },
  },
  '/consumers/{id}/keys/{keyId}': {
    delete: {
      summary: 'Delete a key; it stops at once',
      parameters: [consumerId, path('keyId', 'The key id.')],
      responses: { '204': { description: 'Deleted' }, '404': problemAnswer('No such key.'), ...errors },
    },
  },
  '/subscriptions': {
    post: {
      summary: 'Request a subscription (approved at once on `subscription: open` routes)',
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['consumer', 'route'],
              properties: { consumer: { type: 'string' }, route: { type: 'string' } },
            },
          },
        },
      },
      responses: {
        '201': json(ref('Subscription'), 'Created'),
        '409': problemAnswer('The consumer already has one.'),
        '422': problemAnswer('Unknown consumer or route.'),
        ...errors,
      },
    },
    get: {
      summary: 'List subscriptions',
      parameters: [
        query('status', 'pending, approved, rejected or revoked.'),
        query('consumer', 'Consumer id or name.'),
        query('route', 'Route name.'),
        ...paging,
      ],
      responses: { '200': list(ref('Subscription')), ...errors },
    },
  },
  ...Object.fromEntries(
    (['approve', 'reject', 'revoke'] as const).map((action) => [
      `/subscriptions/{id}/${action}`,
      {
        post: {
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a subscription`,
          parameters: [path('id', 'The subscription id.')],
          responses: {
            '200': json(ref('Subscription')),
            '404': problemAnswer('No such subscription.'),
            '409': problemAnswer(
              'Not allowed from the current status (`invalid-transition`, with `currentState`).',
            ),
            ...errors,
          },
        },
      },
    ]),
  ),
  '/audit': {
    get: {
      summary: 'Every admin change, oldest first',
      parameters: paging,
      responses: { '200': list(ref('AuditEntry')), ...errors },
    },
  },
  '/calls': {
    get: {
      summary: 'Call records, without headers and bodies',
      parameters: [
        query('route', 'Route name.'),
        query('status', 'An exact status (409) or a class (4xx).'),
        query('code', 'The problem code of the answer.'),
        query('consumer', 'Consumer name.'),
        query('resource', 'Resource key, e.g. /products/hammer.'),
        query('model', 'AI calls whose model or alias is this.'),
        query('since', 'ISO 8601 time (inclusive).'),
        query('until', 'ISO 8601 time (exclusive).'),
        query('order', 'asc or desc (default desc).'),
        ...paging,
      ],
      responses: { '200': list(ref('Call')), ...errors },
    },
  },
  '/calls/stream': {
    get: {
      summary:
        'A live tail of the call log as Server-Sent Events (event: call), opening with the latest 50 matching calls',
      parameters: [
        query('route', 'Route name.'),
        query('status', 'An exact status (409) or a class (4xx).'),
        query('code', 'The problem code of the answer.'),
        query('consumer', 'Consumer name.'),
      ],
      responses: {
        '200': {
          description:
            'The stream: `event: call`, `id:` the call id, `data:` the call as GET /calls lists it',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
        '503': problemAnswer('Too many streams open (busy); retry later or poll GET /calls.'),
        ...errors,
      },
    },
  },
  '/calls/{id}': {
    get: {
      summary: 'One call in full: headers and bodies, after redaction',
      parameters: [path('id', 'The call id.')],
      responses: { '200': json(ref('Call')), '404': problemAnswer('Not in the log.'), ...errors },
    },
  },
  '/routes': {
    get: {
      summary: 'The configured routes: prefix, access (auth, subscription), rate limit, guard and lifecycle',
      responses: {
        '200': { description: 'The routes', content: { 'application/json': { schema: { type: 'object' } } } },
        ...errors,
      },
    },
  },
  '/ai/prompts': {
    get: {
      summary:
        'The prompts of AI routes with a state server (docs/ai.md): route, name, status, model, version, last change',
      responses: {
        '200': {
          description: 'The prompts',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        '502': problemAnswer('A state server could not be read.'),
        ...errors,
      },
    },
  },
  '/ai/prompts/{route}/{name}/versions': {
    get: {
      summary: "A prompt's history, newest first, as its state server keeps it",
      parameters: [path('route', 'The AI route.'), path('name', 'The prompt.')],
      responses: {
        '200': {
          description: 'The versions',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        '404': problemAnswer('No such route or prompt.'),
        ...errors,
      },
    },
  },
  '/': {
    get: {
      summary: 'The dashboard (no admin key needed: the page asks for it)',
      security: [],
      responses: {
        '200': {
          description: 'The dashboard page',
          content: { 'text/html': { schema: { type: 'string' } } },
        },
      },
    },
  },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics',
      responses: {
        '200': {
          description: 'Text exposition format',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
        ...errors,
      },
    },
  },
  ...alertPaths,
  '/_problems/{code}': {
    get: {
      summary: 'Documentation of a problem type (no admin key needed)',
      security: [],
      parameters: [path('code', 'The problem code.')],
      responses: {
        '200': { description: 'HTML, or JSON when preferred' },
        '404': problemAnswer('Unknown code.'),
      },
    },
  },
};

const time = { type: 'string', format: 'date-time' };
const schemas = {
  ...alertSchemas,
  Problem: {
    type: 'object',
    required: ['type', 'title', 'status', 'detail', 'code', 'retryable', 'resolution'],
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      instance: { type: 'string' },
      code: { type: 'string' },
      retryable: { type: 'boolean' },
      resolution: { type: 'string' },
    },
  },
  Consumer: {
    type: 'object',
    required: ['id', 'name', 'createdAt'],
    properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: time },
  },
  NewKey: {
    type: 'object',
    required: ['id', 'key', 'prefix', 'createdAt'],
    properties: {
      id: { type: 'string' },
      key: { type: 'string' },
      prefix: { type: 'string' },
      createdAt: time,
    },
  },
  Key: {
    type: 'object',
    required: ['id', 'prefix', 'createdAt', 'lastUsedAt'],
    properties: {
      id: { type: 'string' },
      prefix: { type: 'string' },
      createdAt: time,
      lastUsedAt: { ...time, type: ['string', 'null'] },
    },
  },
  Subscription: {
    type: 'object',
    required: ['id', 'consumer', 'route', 'status'],
    properties: {
      id: { type: 'string' },
      consumer: { type: 'string' },
      consumerId: { type: 'string' },
      route: { type: 'string' },
      status: { enum: ['pending', 'approved', 'rejected', 'revoked'] },
      createdAt: time,
      updatedAt: time,
    },
  },
  AuditEntry: {
    type: 'object',
    required: ['time', 'action', 'target', 'detail'],
    properties: { time, action: { type: 'string' }, target: { type: 'string' }, detail: { type: 'object' } },
  },
  Call: {
    type: 'object',
    description: 'A call record (SPEC 5.3). The list leaves out headers and bodies.',
    properties: {
      id: { type: 'string' },
      requestId: { type: 'string' },
      traceparent: { type: 'string' },
      time,
      route: { type: ['string', 'null'] },
      target: { type: ['string', 'null'] },
      consumer: { type: ['string', 'null'] },
      clientIp: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
      query: { type: ['string', 'null'] },
      resource: { type: ['string', 'null'] },
      status: { type: 'integer' },
      code: { type: ['string', 'null'] },
      conditional: { type: 'boolean' },
      retryOf: { type: ['string', 'null'] },
      early: { type: 'boolean' },
      durationMs: { type: 'number' },
      upstreamMs: { type: ['number', 'null'] },
      requestBytes: { type: 'integer' },
      responseBytes: { type: 'integer' },
      requestHeaders: { type: 'object' },
      responseHeaders: { type: 'object' },
      requestBody: { type: ['string', 'null'] },
      responseBody: { type: ['string', 'null'] },
      requestBodyEncoding: { enum: ['utf8', 'base64', null] },
      responseBodyEncoding: { enum: ['utf8', 'base64', null] },
      requestBodyTruncated: { type: 'boolean' },
      responseBodyTruncated: { type: 'boolean' },
      staleBy: staleBySchema,
      ai: {
        description: 'On AI routes, which model answered and what it cost; null on other calls.',
        type: ['object', 'null'],
        properties: {
          alias: { type: 'string' },
          provider: { type: ['string', 'null'] },
          model: { type: ['string', 'null'] },
          tokensIn: { type: 'integer' },
          tokensOut: { type: 'integer' },
          cost: { type: ['number', 'null'], description: 'Null when the model has no price.' },
          estimated: {
            type: 'boolean',
            description: 'The provider reported no usage; counts are estimates.',
          },
          attempts: { type: 'integer' },
          stream: { type: 'boolean' },
          ttftMs: { type: ['number', 'null'] },
          prompt: { type: ['string', 'null'] },
          promptVersion: { type: ['string', 'null'] },
          conversation: { type: ['string', 'null'] },
        },
      },
    },
  },
};

/** The admin API's OpenAPI document. */
export const adminOpenApi = Object.freeze({
  openapi: '3.1.0',
  info: {
    title: 'Truce gateway admin API',
    version: '0.1.0',
    description:
      'Consumers, keys, subscriptions, the audit log, the call log and metrics (SPEC 5.4). Every route needs Authorization: Bearer <admin key>.',
  },
  security: [{ adminKey: [] }],
  paths: { ...paths, ...analyticsPaths },
  components: { schemas, securitySchemes: { adminKey: { type: 'http', scheme: 'bearer' } } },
});
