import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../http/problem-error.js';
import { resourcePath, type ResourceContext } from '../resources/context.js';
import { latestLink } from '../resources/stale.js';
import type { CommitFailure, JsonObject } from '../store/types.js';
import { constrainedValues } from './unique.js';

/**
 * The problem for a commit the store refused for a business rule. A version mismatch is not one
 * of them: the caller re-reads and tries again.
 */
export function commitProblem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  failure: Exclude<CommitFailure, { reason: 'version-mismatch' }>,
  doc: JsonObject | null,
  increment?: { pointer: string; by: number },
): ProblemError {
  const link = latestLink(ctx, collection.name, id);
  switch (failure.reason) {
    case 'unique-violation': {
      const constraint = collection.unique.find((u) => u.name === failure.constraint)!;
      const values = (doc && constrainedValues(constraint, doc)) ?? [];
      const existing = resourcePath(ctx, collection.name, failure.holder);
      const fields = constraint.fields;
      return new ProblemError(
        'unique-violation',
        `${fields.length === 1 ? `${fields[0]} ${JSON.stringify(values[0])} is` : `${fields.join(' + ')} ${JSON.stringify(values)} are`} already taken by ${existing}${constraint.caseInsensitive ? ' (compared case-insensitively)' : ''}; choose another value.`,
        { fields: [...fields], values, existing },
        { link: `<${existing}>; rel="related"` },
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
      return boundProblem(ctx, collection, id, {
        ...increment!,
        value: failure.value,
        bound: failure.bound,
        limit: failure.limit,
      });
    case 'not-found':
      return new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
    case 'not-a-number':
      return notANumber(collection, id, increment?.pointer ?? '');
  }
}

/** 409 `insufficient` or `limit-exceeded`: an increment would cross a bound. */
export function boundProblem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  f: { pointer: string; by: number; value: number; bound: 'minimum' | 'maximum'; limit: number },
): ProblemError {
  const link = latestLink(ctx, collection.name, id);
  const where = `${collection.name}/${id} has ${f.value} at ${f.pointer}; adding ${f.by}`;
  if (f.bound === 'minimum') {
    return new ProblemError(
      'insufficient',
      `${where} would go below ${f.limit}.`,
      { pointer: f.pointer, current: f.value, by: f.by, minimum: f.limit },
      link,
    );
  }
  return new ProblemError(
    'limit-exceeded',
    `${where} would go above ${f.limit}.`,
    { pointer: f.pointer, current: f.value, by: f.by, maximum: f.limit },
    link,
  );
}

/** 422: the increment's target is not a number. */
export function notANumber(collection: CollectionConfig, id: string, pointer: string): ProblemError {
  return new ProblemError('validation-failed', `${pointer} is not a number in ${collection.name}/${id}.`, {
    errors: [{ pointer, message: 'is not a number (an increment needs a number or a missing member)' }],
  });
}
