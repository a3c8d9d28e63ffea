import type { CollectionConfig } from '../config/types.js';
import { MEDIA } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';
import type { Lease } from '../store/types.js';
import {
  need,
  resourcePath,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from './context.js';
import { requireJsonObject } from './intent.js';
import { latestLink } from './stale.js';

/*
 * Leases (SPEC 3.9): `POST /{c}/{id}/_lock` takes or renews one, `DELETE /{c}/{id}/_lock` releases
 * it. The store decides everything atomically; this file reads the request and words the answer.
 * Time comes from `ctx.now`, which tests replace with a clock they move.
 */

/** Lease lifetime when the body gives none, in seconds. */
export const DEFAULT_LEASE_TTL = 60;
/** The longest lease one request may ask for, in seconds; a holder renews to keep it longer. */
export const MAX_LEASE_TTL = 3600;
/** The longest `owner`, in characters. */
const MAX_OWNER_LENGTH = 200;

/** POST `/{c}/{id}/_lock`: a new lease (201), or with the current `Lock-Token`, its renewal (200). */
export async function takeLease(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  input: OperationInput,
): Promise<OperationResult> {
  const token = need(input.lockToken) ?? null;
  const body = readLockBody(input);
  const owner = body.owner ?? need(input.actor);
  // A renewal without a ttl keeps the lease's own; a new lease without one gets the default.
  const ttl = body.ttl ?? (token === null ? DEFAULT_LEASE_TTL : undefined);
  const result = await ctx.store.lease(collection.name, id, {
    action: 'acquire',
    token,
    owner,
    ttlMs: ttl === undefined ? undefined : ttl * 1000,
    now: ctx.now(),
  });
  if (!result.ok) {
    if (result.reason === 'locked') throw lockedProblem(ctx, collection, id, result);
    throw leaseRefusal(ctx, collection, id, result.reason, token);
  }
  const acquired = result.outcome === 'acquired';
  return {
    status: acquired ? 201 : 200,
    headers: {
      'cache-control': 'no-store',
      'lock-token': result.lease.token,
      ...(acquired ? { location: `${resourcePath(ctx, collection.name, id)}/_lock` } : {}),
    },
    body: leaseBody(result.lease),
  };
}

/** DELETE `/{c}/{id}/_lock` with the lease's `Lock-Token`: 204. */
export async function releaseLease(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  input: OperationInput,
): Promise<OperationResult> {
  const token = need(input.lockToken);
  if (token === undefined) {
    // Checked after the resource, so that a release on a missing resource is 404 either way.
    const head = await ctx.store.get(collection.name, id);
    if (!head || head.deleted) throw leaseRefusal(ctx, collection, id, 'not-found', null);
    throw leaseRefusal(ctx, collection, id, 'token-mismatch', null);
  }
  const result = await ctx.store.lease(collection.name, id, { action: 'release', token, now: ctx.now() });
  if (!result.ok) {
    if (result.reason === 'locked') throw new Error('a release is never refused as locked');
    throw leaseRefusal(ctx, collection, id, result.reason, token);
  }
  return { status: 204, headers: {} };
}

/**
 * 423 `locked` (or the collection's `lockedStatus`): who holds the lease until when, with
 * `Retry-After` counting the seconds to its expiry (at least 1).
 */
export function lockedProblem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  lease: { readonly owner: string | null; readonly expiresAt: number },
): ProblemError<'locked'> {
  const expiresAt = new Date(lease.expiresAt).toISOString();
  const holder = lease.owner === null ? 'someone who gave no name' : lease.owner;
  const seconds = Math.max(1, Math.ceil((lease.expiresAt - ctx.now()) / 1000));
  return new ProblemError(
    'locked',
    `${collection.name}/${id} is leased by ${holder} until ${expiresAt}; only writes with that lease's Lock-Token are accepted until it is released or expires.`,
    { status: collection.lockedStatus, lockedBy: lease.owner, expiresAt },
    { 'retry-after': String(seconds), ...latestLink(ctx, collection.name, id) },
  );
}

function leaseRefusal(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  reason: 'not-found' | 'token-mismatch',
  token: string | null,
): ProblemError {
  if (reason === 'not-found') {
    return new ProblemError('not-found', `${collection.name}/${id} does not exist, so it cannot be leased.`);
  }
  return new ProblemError(
    'lock-token-mismatch',
    token === null
      ? `Releasing the lease on ${collection.name}/${id} needs the Lock-Token header with the lease's token.`
      : `The Lock-Token you sent is not that of a live lease on ${collection.name}/${id}: the lease expired, was released, or was never granted. Take a new lease and re-read the resource before writing.`,
    {},
    latestLink(ctx, collection.name, id),
  );
}

/** The answer to a granted lease: SPEC 3.9 `{ token, fencing, owner, expiresAt }`. */
function leaseBody(lease: Lease): Record<string, unknown> {
  return {
    token: lease.token,
    fencing: lease.fencing,
    owner: lease.owner,
    expiresAt: new Date(lease.expiresAt).toISOString(),
  };
}

/** The optional body `{ "ttl": seconds, "owner": "name" }`, every problem in it reported at once. */
function readLockBody(input: OperationInput): { ttl?: number; owner?: string } {
  if (input.body === undefined) return {};
  const body = requireJsonObject(input, [MEDIA.json]);
  const errors: { pointer: string; message: string }[] = [];
  const { ttl, owner } = body;
  if (
    ttl !== undefined &&
    (!Number.isInteger(ttl) || (ttl as number) < 1 || (ttl as number) > MAX_LEASE_TTL)
  ) {
    errors.push({ pointer: '/ttl', message: `must be a whole number of seconds from 1 to ${MAX_LEASE_TTL}` });
  }
  if (
    owner !== undefined &&
    (typeof owner !== 'string' || owner.trim() === '' || owner.length > MAX_OWNER_LENGTH)
  ) {
    errors.push({ pointer: '/owner', message: `must be a name of 1 to ${MAX_OWNER_LENGTH} characters` });
  }
  for (const key of Object.keys(body)) {
    if (key !== 'ttl' && key !== 'owner') {
      const pointer = `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
      errors.push({ pointer, message: 'is not a member of a lease request' });
    }
  }
  if (errors.length > 0) {
    throw new ProblemError(
      'malformed-request',
      'A lease request is { "ttl": seconds, "owner": "name" }, both optional.',
      {
        errors,
      },
    );
  }
  return {
    ...(ttl === undefined ? {} : { ttl: ttl as number }),
    ...(owner === undefined ? {} : { owner: (owner as string).trim() }),
  };
}
