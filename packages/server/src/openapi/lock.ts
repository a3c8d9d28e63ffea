import type { CollectionConfig } from '../config/types.js';
import { MAX_LEASE_TTL } from '../resources/lock.js';

type Doc = Record<string, unknown>;

/** The OpenAPI path item of `/{c}/{id}/_lock` (SPEC 3.9); `problem` builds a problem response. */
export function leasePath(c: CollectionConfig, problem: (description: string) => Doc): Doc {
  const lease = {
    type: 'object',
    required: ['token', 'fencing', 'owner', 'expiresAt'],
    properties: {
      token: {
        type: 'string',
        description: 'Send it as Lock-Token with every write while the lease is live',
      },
      fencing: { type: 'integer', minimum: 1, description: 'Strictly increasing per resource across leases' },
      owner: { type: ['string', 'null'] },
      expiresAt: { type: 'string', format: 'date-time' },
    },
  };
  const granted = (description: string) => ({
    description,
    headers: { 'Lock-Token': { schema: { type: 'string' } } },
    content: { 'application/json': { schema: lease } },
  });
  return {
    parameters: [
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
      { $ref: '#/components/parameters/LockToken' },
      { $ref: '#/components/parameters/IdempotencyKey' },
      { $ref: '#/components/parameters/Actor' },
    ],
    post: {
      summary: `Take a lease on one of ${c.name}, or renew yours (with its Lock-Token)`,
      requestBody: {
        required: false,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              additionalProperties: false,
              properties: {
                ttl: { type: 'integer', minimum: 1, maximum: MAX_LEASE_TTL, default: 60 },
                owner: { type: 'string', minLength: 1, maxLength: 200, description: 'Default: the actor' },
              },
            },
          },
        },
      },
      responses: {
        '201': granted('A new lease'),
        '200': granted('Your lease, renewed'),
        '400': problem('malformed-request'),
        '404': problem('not-found'),
        ...(c.lockedStatus === 409
          ? { '409': problem('locked: someone else holds a lease; or lock-token-mismatch') }
          : { '423': problem('locked: someone else holds a lease'), '409': problem('lock-token-mismatch') }),
      },
    },
    delete: {
      summary: `Release your lease on one of ${c.name}`,
      responses: {
        '204': { description: 'Released' },
        '404': problem('not-found'),
        '409': problem('lock-token-mismatch'),
      },
    },
  };
}
