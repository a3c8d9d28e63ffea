import type { ViolationCode } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import { resourcePath, type ResourceContext } from '../resources/context.js';
import { lockedProblem } from '../resources/lock.js';
import { provenance } from '../resources/representation.js';
import { latestLink } from '../resources/stale.js';
import type { CommitFailure, Head, JsonObject, WriteOp } from '../store/types.js';
import { danglingProblem, uniqueProblem } from './refusals.js';
import { referenceKey, storedViolations, uniqueKey, violationsProblem } from './violations.js';

/**
 * The problem for a commit the store refused for a business rule. A version mismatch is not one
 * of them: the caller re-reads and tries again. `current` is the head the write was based on,
 * when there was one; `earlier` the ops before the refused one in its commit (a batch).
 */
export async function commitProblem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  failure: Exclude<CommitFailure, { reason: 'version-mismatch' }>,
  doc: JsonObject | null,
  current: Head | null,
  increment?: { pointer: string; by: number },
  earlier: readonly WriteOp[] = [],
): Promise<ProblemError> {
  const link = latestLink(ctx, collection.name, id);
  switch (failure.reason) {
    case 'unique-violation': {
      const first = await uniqueProblem(
        ctx,
        collection,
        id,
        failure.constraint,
        failure.holder,
        doc,
        current,
      );
      const key = uniqueKey(failure.constraint);
      return withStoredViolations(ctx, collection, id, doc, current, earlier, first, key);
    }
    case 'dangling-reference': {
      const first = danglingProblem(failure.reference);
      const key = referenceKey(failure.reference.pointer);
      return withStoredViolations(ctx, collection, id, doc, current, earlier, first, key);
    }
    case 'still-referenced': {
      const referencedBy = failure.referencedBy.map((r) => ({
        collection: r.collection,
        count: r.count,
        examples: r.examples.map((ex) => resourcePath(ctx, r.collection, ex)),
      }));
      const summary = referencedBy.map((r) => `${r.count} in ${r.collection}`).join(', ');
      return new ProblemError(
        'still-referenced',
        `${collection.name}/${id} is still referenced (${summary}); remove or repoint those first.`,
        { referencedBy },
        link,
      );
    }
    case 'out-of-bounds':
      return boundProblem(
        ctx,
        collection,
        id,
        { ...increment!, value: failure.value, bound: failure.bound, limit: failure.limit },
        failure.current,
      );
    case 'not-found':
      return new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
    case 'not-a-number':
      return notANumber(collection, id, increment?.pointer ?? '');
    case 'locked':
      return lockedProblem(ctx, collection, id, failure);
  }
}

/**
 * The store refused the write for `first`, the first reference or unique key it found broken; the
 * others the document breaks are found by reading (rules/violations.ts) and listed with it.
 */
async function withStoredViolations(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  doc: JsonObject | null,
  current: Head | null,
  earlier: readonly WriteOp[],
  first: ProblemError<ViolationCode>,
  firstKey: string,
): Promise<ProblemError> {
  const others = doc ? await storedViolations(ctx, collection, id, doc, current, earlier) : [];
  return violationsProblem([first, ...others.filter((v) => v.key !== firstKey).map((v) => v.problem)]);
}

/** 409 `insufficient` or `limit-exceeded`: an increment would leave the bounds of its number. */
export function boundProblem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  f: { pointer: string; by: number; value: number; bound: 'minimum' | 'maximum'; limit: number },
  current: Head | null,
): ProblemError {
  const link = latestLink(ctx, collection.name, id);
  const since = current
    ? ` (since ${new Date(current.updatedAt).toISOString()}${current.updatedBy ? `, written by ${current.updatedBy}` : ''})`
    : '';
  const where = `${collection.name}/${id} has ${f.value} at ${f.pointer}${since}; adding ${f.by} would leave its ${f.bound} of ${f.limit}`;
  if (f.bound === 'minimum') {
    return new ProblemError(
      'insufficient',
      `${where}.`,
      { pointer: f.pointer, current: f.value, by: f.by, minimum: f.limit, ...provenance(current) },
      link,
    );
  }
  return new ProblemError(
    'limit-exceeded',
    `${where}.`,
    { pointer: f.pointer, current: f.value, by: f.by, maximum: f.limit, ...provenance(current) },
    link,
  );
}

/** 422: the increment's target is not a number. */
export function notANumber(collection: CollectionConfig, id: string, pointer: string): ProblemError {
  return new ProblemError('validation-failed', `${pointer} is not a number in ${collection.name}/${id}.`, {
    errors: [{ pointer, message: 'is not a number (an increment needs a number or a missing member)' }],
  });
}
