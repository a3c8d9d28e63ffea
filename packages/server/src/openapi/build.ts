import { problemTypes } from '@truce/protocol';
import type { CollectionConfig, TruceConfig } from '../config/types.js';
import type { JsonObject } from '../store/types.js';
import { collectionSchema } from '../resources/schema.js';
import { leasePath } from './lock.js';

type Doc = Record<string, unknown>;

/**
 * An OpenAPI 3.1 document for the configured collections. Collection schemas are JSON Schema
 * 2020-12, which OpenAPI 3.1 takes as is; each resource schema adds the server-owned members.
 */
export function buildOpenApi(config: TruceConfig, prefix = ''): Doc {
  const paths: Doc = {};
  const schemas: Doc = { Problem: problemSchema() };
  for (const c of config.collections.values()) {
    const name = schemaName(c.name);
    schemas[`${name}Fields`] = collectionSchema(c);
    schemas[name] = resourceSchema(name);
    Object.assign(paths, collectionPaths(c, name, prefix));
  }
  paths[`${prefix}/_openapi.json`] = {
    get: {
      summary: 'This document',
      responses: { '200': { description: 'OpenAPI 3.1, generated from the configuration' } },
    },
  };
  const feed = (summary: string) => ({
    get: {
      summary,
      parameters: [
        {
          name: 'since',
          in: 'query',
          schema: { oneOf: [{ type: 'integer', minimum: 0 }, { const: 'now' }] },
        },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        {
          name: 'Last-Event-ID',
          in: 'header',
          schema: { type: 'string' },
          description: 'Resume a stream after this sequence number',
        },
      ],
      responses: {
        '200': {
          description:
            'JSON { results, last }, or with Accept: text/event-stream a stream of `change` events',
          content: {
            'application/json': { schema: { type: 'object' } },
            'text/event-stream': { schema: { type: 'string' } },
          },
        },
        '410': problemRef('history-expired: since is older than the retained feed'),
        '503': problemRef('busy: the server, or this connection, has as many streams open as allowed'),
      },
    },
  });
  paths[`${prefix}/_changes`] = feed('Every commit, in commit order');
  for (const c of config.collections.values())
    paths[`${prefix}/${c.name}/_changes`] = feed(`Commits to ${c.name}, in commit order`);
  paths[`${prefix}/_batch`] = {
    post: {
      summary: 'Several operations in one request, all or nothing by default',
      parameters: [
        { $ref: '#/components/parameters/IdempotencyKey' },
        { $ref: '#/components/parameters/Actor' },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['operations'],
              properties: {
                atomic: { type: 'boolean', default: true },
                operations: {
                  type: 'array',
                  minItems: 1,
                  maxItems: 100,
                  items: {
                    type: 'object',
                    required: ['method', 'path'],
                    properties: {
                      method: { type: 'string' },
                      path: { type: 'string' },
                      headers: { type: 'object' },
                      body: {},
                    },
                  },
                },
              },
            },
          },
        },
      },
      responses: {
        '200': { description: '{ results: [{ status, headers, body }] }' },
        '400': problemRef('malformed-request'),
        '4XX': problemRef('atomic: the first failing operation, with operationIndex'),
      },
    },
  };
  paths[`${prefix}/_health`] = {
    get: {
      summary: 'Store health',
      responses: {
        '200': { description: 'The store answers' },
        '503': problemRef('The store does not answer'),
      },
    },
  };
  paths[`${prefix}/_problems/{code}`] = {
    get: {
      summary: 'Documentation of a problem type',
      parameters: [{ name: 'code', in: 'path', required: true, schema: { enum: Object.keys(problemTypes) } }],
      responses: {
        '200': { description: 'HTML, or JSON when preferred' },
        '404': problemRef('Unknown code'),
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Truce resource API',
      version: '1',
      description: 'Generated from the Truce configuration.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas,
      parameters: commonParameters(config.actorHeaderName),
      headers: {
        ETag: { description: 'Strong entity-tag of the representation', schema: { type: 'string' } },
        'Last-Modified': { schema: { type: 'string' } },
      },
    },
  };
}

function collectionPaths(c: CollectionConfig, name: string, prefix: string): Doc {
  const base = `${prefix}/${c.name}`;
  const item = { $ref: `#/components/schemas/${name}` };
  const fields = { $ref: `#/components/schemas/${name}Fields` };
  const ok = (description: string) => ({
    description,
    headers: {
      ETag: { $ref: '#/components/headers/ETag' },
      'Last-Modified': { $ref: '#/components/headers/Last-Modified' },
    },
    content: { 'application/json': { schema: item } },
  });
  const conditional = [
    'IfMatch',
    'IfNoneMatch',
    'IfUnmodifiedSince',
    'TruceBase',
    'IdempotencyKey',
    'Actor',
    'LockToken',
  ].map((p) => ({
    $ref: `#/components/parameters/${p}`,
  }));
  // DELETE, transitions and increments do not merge: the server answers Truce-Base with 400.
  const conditionalNoBase = conditional.filter((p) => p.$ref !== '#/components/parameters/TruceBase');
  const conflicts409 =
    'version-conflict, test-failed, patch-conflict, unique-violation, invalid-transition, transition-guard-failed, rule-violated' +
    (c.lockedStatus === 409 ? ', locked' : '');
  const writeErrors = {
    '409': problemRef(c.staleWriteStatus === 409 ? `stale-write, ${conflicts409}` : conflicts409),
    '412':
      c.staleWriteStatus === 409
        ? problemRef('already-exists or precondition-failed')
        : problemRef(
            'stale-write: the resource changed since your version; or already-exists, precondition-failed',
          ),
    '422': problemRef('validation-failed, dangling-reference'),
    // A lease held by someone else (SPEC 3.9); with lockedStatus 409 it is one of the 409s.
    ...(c.lockedStatus === 423 ? { '423': problemRef('locked: someone else holds a lease') } : {}),
    ...(c.requirePreconditions ? { '428': problemRef('precondition-required') } : {}),
  };
  const rulePaths: Doc = {};
  const machine = c.states;
  if (machine) {
    rulePaths[`${base}/{id}/_transitions/{name}`] = {
      post: {
        summary: `Run a transition of ${c.name}.${machine.field}`,
        description: [...machine.transitions.values()]
          .map(
            (t) =>
              `${t.name}: ${t.from.map((f) => JSON.stringify(f)).join(' | ')} -> ${JSON.stringify(t.to)}${t.guard ? ' (guarded)' : ''}`,
          )
          .join('; '),
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'name', in: 'path', required: true, schema: { enum: [...machine.transitions.keys()] } },
          ...conditionalNoBase,
        ],
        requestBody: {
          required: false,
          content: { 'application/merge-patch+json': { schema: { type: 'object' } } },
        },
        responses: {
          ...writeErrors,
          '200': ok('Moved to the new state'),
          '404': problemRef('not-found'),
          '409': problemRef('invalid-transition, transition-guard-failed, rule-violated, unique-violation'),
        },
      },
    };
  }
  rulePaths[`${base}/{id}/_increment`] = {
    post: {
      summary: `Add to a number of one of ${c.name}, atomically and within the schema's bounds`,
      parameters: [
        { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
        ...conditionalNoBase,
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['pointer', 'by'],
              properties: { pointer: { type: 'string' }, by: { type: 'number' } },
            },
          },
        },
      },
      responses: {
        ...writeErrors,
        '200': ok('Added'),
        '404': problemRef('not-found'),
        '409': problemRef('insufficient or limit-exceeded'),
      },
    },
  };
  rulePaths[`${base}/{id}/_lock`] = leasePath(c, problemRef);
  rulePaths[`${base}/_schema`] = {
    get: {
      summary: `The JSON Schema of ${c.name}, with its state machine, unique keys, references and rules as x-truce-* annotations`,
      responses: {
        '200': {
          description: 'The schema',
          content: { 'application/schema+json': { schema: { type: 'object' } } },
        },
      },
    },
  };
  return {
    ...rulePaths,
    [base]: {
      get: {
        summary: `List ${c.name}`,
        parameters: [
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'One page, ordered by id; other query parameters are equality filters on fields',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { items: { type: 'array', items: item }, next: { type: ['string', 'null'] } },
                },
              },
            },
          },
        },
      },
      post: {
        summary: `Create one of ${c.name}`,
        parameters: [{ $ref: '#/components/parameters/Actor' }],
        requestBody: { required: true, content: { 'application/json': { schema: fields } } },
        responses: {
          '201': ok('Created'),
          '409': problemRef('already-exists'),
          '422': problemRef('validation-failed'),
        },
      },
    },
    [`${base}/{id}`]: {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        summary: `Read one of ${c.name}`,
        parameters: ['IfNoneMatch', 'IfModifiedSince', 'IfMatch'].map((p) => ({
          $ref: `#/components/parameters/${p}`,
        })),
        responses: {
          '200': ok('The representation'),
          '304': { description: 'Not modified' },
          '404': problemRef('not-found'),
        },
      },
      put: {
        summary: `Replace (or create) one of ${c.name}`,
        parameters: conditional,
        requestBody: { required: true, content: { 'application/json': { schema: fields } } },
        responses: { '200': ok('Replaced'), '201': ok('Created'), ...writeErrors },
      },
      patch: {
        summary: `Patch one of ${c.name}`,
        parameters: conditional,
        requestBody: {
          required: true,
          content: {
            'application/merge-patch+json': { schema: { type: 'object' } },
            'application/json-patch+json': { schema: { type: 'array', items: { type: 'object' } } },
          },
        },
        responses: { '200': ok('Patched'), '404': problemRef('not-found'), ...writeErrors },
      },
      delete: {
        summary: `Delete one of ${c.name}`,
        parameters: conditionalNoBase,
        responses: {
          '204': { description: 'Deleted' },
          '404': problemRef('not-found'),
          ...writeErrors,
          '409': problemRef('still-referenced, version-conflict'),
        },
      },
    },
    [`${base}/{id}/_versions`]: {
      get: {
        summary: `History of one of ${c.name}, newest first (last ${c.historyKeep} kept)`,
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'before', in: 'query', schema: { type: 'integer', minimum: 1 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
        ],
        responses: { '200': { description: 'Version entries' }, '404': problemRef('not-found') },
      },
    },
    [`${base}/{id}/_versions/{version}`]: {
      get: {
        summary: `One past version of one of ${c.name}`,
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
        ],
        responses: { '200': ok('The representation as it was'), '404': problemRef('not-found') },
      },
    },
  };
}

function resourceSchema(name: string): JsonObject {
  return {
    allOf: [
      { $ref: `#/components/schemas/${name}Fields` },
      {
        type: 'object',
        required: ['id', '_version', '_createdAt', '_updatedAt', '_updatedBy'],
        properties: {
          id: { type: 'string' },
          _version: { type: 'integer', minimum: 1, readOnly: true },
          _createdAt: { type: 'string', format: 'date-time', readOnly: true },
          _updatedAt: { type: 'string', format: 'date-time', readOnly: true },
          _updatedBy: { type: ['string', 'null'], readOnly: true },
        },
      },
    ],
  };
}

function problemSchema(): JsonObject {
  return {
    type: 'object',
    required: ['type', 'title', 'status', 'detail', 'code', 'retryable', 'resolution'],
    properties: {
      type: { type: 'string', format: 'uri-reference' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      instance: { type: 'string' },
      code: { enum: Object.keys(problemTypes) },
      retryable: { type: 'boolean' },
      resolution: {
        enum: [
          'refetch-merge-retry',
          'choose-another-value',
          'fulfil-precondition',
          'wait-and-retry',
          'fix-input',
          'none',
        ],
      },
    },
  };
}

function problemRef(description: string): Doc {
  return {
    description,
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  };
}

function commonParameters(actorHeader: string): Doc {
  const h = (name: string, description: string) => ({
    name,
    in: 'header',
    required: false,
    description,
    schema: { type: 'string' },
  });
  return {
    IfMatch: h('If-Match', 'Write only if the current ETag matches (strong comparison)'),
    TruceBase: h(
      'Truce-Base',
      'PUT/PATCH: the ETag the edit was made against; a stale base is merged with what changed since (200 + Truce-Merged) or refused with 409 edit-conflict',
    ),
    IdempotencyKey: h(
      'Idempotency-Key',
      'Retries with the same key and request apply once and get the stored answer (Idempotent-Replayed: true)',
    ),
    IfNoneMatch: h('If-None-Match', '304 on GET when it matches; `*` on PUT creates only'),
    IfModifiedSince: h('If-Modified-Since', '304 when not modified since'),
    IfUnmodifiedSince: h('If-Unmodified-Since', 'Write only if not modified since'),
    Actor: h(actorHeader, 'Who makes the change (recorded as _updatedBy and in history)'),
    LockToken: h('Lock-Token', 'The token of your lease; writes need it while someone holds one'),
  };
}

function schemaName(collection: string): string {
  const camel = collection.replace(/[-_]+(.)/g, (_m, ch: string) => ch.toUpperCase());
  return camel.charAt(0).toUpperCase() + camel.slice(1);
}
