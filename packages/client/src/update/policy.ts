/**
 * The merge policy of a collection (SPEC 2 `merge`: keyed arrays, line-merged text), so that the
 * client's own merges give the same result as the server's. Given to the client in `collections`,
 * or read once per collection from the server's `GET /{c}/_schema` (`x-truce-merge`); without
 * either, arrays and strings merge atomically, which only ever finds more conflicts, never fewer.
 */
import {
  compileMergePolicy,
  isJsonObject,
  type CompiledMergePolicy,
  type MergePolicy,
} from '@truce/protocol';
import { request, resourcePath, type ClientContext } from '../client/context.js';
import type { OperationScope } from '../http/timing.js';

/** The policy to merge `collection` with; asks the server at most once per collection. */
export function mergePolicyFor(
  ctx: ClientContext,
  scope: OperationScope,
  collection: string,
): Promise<CompiledMergePolicy | undefined> {
  const configured = ctx.policies.get(collection);
  if (configured !== undefined) return Promise.resolve(configured);
  let found = ctx.discoveredPolicies.get(collection);
  if (found === undefined) {
    found = readPolicy(ctx, scope, collection);
    ctx.discoveredPolicies.set(collection, found);
    // A failed read (network, abort) is not an answer: ask again next time.
    found.catch(() => ctx.discoveredPolicies.delete(collection));
  }
  return found;
}

async function readPolicy(
  ctx: ClientContext,
  scope: OperationScope,
  collection: string,
): Promise<CompiledMergePolicy | undefined> {
  const exchange = await request(ctx, scope, { method: 'GET', path: `${resourcePath(collection)}/_schema` });
  const merge = isJsonObject(exchange.body) ? exchange.body['x-truce-merge'] : undefined;
  if (exchange.status !== 200 || !isJsonObject(merge)) return undefined;
  try {
    return compileMergePolicy(merge as MergePolicy);
  } catch {
    return undefined;
  }
}
