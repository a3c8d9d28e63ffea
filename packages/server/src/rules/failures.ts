import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import { resourcePath, type ResourceContext } from '../resources/context.js';
import { lockedProblem } from '../resources/lock.js';
import { provenance } from '../resources/representation.js';
import { latestLink } from '../resources/stale.js';
import type { CommitFailure, Head, JsonObject } from '../store/types.js';
import { constrainedValues } from './unique.js';

/**
 * The problem for a commit the store refused for a business rule. A version mismatch is not one
 * of them: the caller re-reads and tries again. `current` is the head the write was based on,
 * when there was one.
 */
export async function commitProblem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  failure: Exclude<CommitFailure, { reason: 'version-mismatch' }>,
  doc: JsonObject | null,
  current: Head | null,
  increment?: { pointer: string; by: number },
): Promise<ProblemError> {
  const link = latestLink(ctx, collection.name, id);
  switch (failure.reason) {
    case 'unique-violation': {
      const constraint = collection.unique.find((u) => u.name === failure.constraint)!;
      const values = (doc && constrainedValues(constraint, doc)) ?? [];
      const existing = resourcePath(ctx, collection.name, failure.holder);
      const holder = await ctx.store.get(collection.name, failure.holder);
      const fields = constraint.fields;
      const taken =
        fields.length === 1
          ? `${fields[0]} ${JSON.stringify(values[0])} is`
          : `${fields.join(' + ')} ${JSON.stringify(values)} are`;
      const when = holder
        ? ` since ${new Date(holder.updatedAt).toISOString()}${holder.updatedBy ? ` (written by ${holder.updatedBy})` : ''}`
        : '';
      return new ProblemError(
        'unique-violation',
        `${taken} already taken by ${existing}${when}${constraint.caseInsensitive ? ', compared case-insensitively' : ''}; choose another value.`,
        { fields: [...fields], values, existing, ...provenance(holder) },
        // The latest version of what is in the way: the holder, and the resource written, if it exists.
        {
          link: current
            ? `${link['link']}, <${existing}>; rel="related"`
            : `<${existing}>; rel="latest-version"`,
        },
      );
    }
    case 'dangling-reference': {
      const r = failure.reference;
      return new ProblemError(
        'dangling-reference',
        `${r.pointer.slice(1)} refers to ${r.collection}/${r.id}, which does not exist.`,
        { pointer: r.pointer, collection: r.collection, id: r.id },
      );
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
