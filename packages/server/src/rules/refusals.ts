import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import { resourcePath, type ResourceContext } from '../resources/context.js';
import { provenance } from '../resources/representation.js';
import { latestLink } from '../resources/stale.js';
import type { Head, JsonObject, Reference } from '../store/types.js';
import { constrainedValues } from './unique.js';

// The problems for the two rules the store checks inside the commit: a reference and a unique key.

/**
 * 409 `unique-violation`: `doc`, written to `collection`/`id`, would take the value of `constraint`
 * that `holderId` holds. `current` is the head the write was based on, when there was one.
 */
export async function uniqueProblem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  constraintName: string,
  holderId: string,
  doc: JsonObject | null,
  current: Head | null,
): Promise<ProblemError<'unique-violation'>> {
  const constraint = collection.unique.find((u) => u.name === constraintName)!;
  const values = (doc && constrainedValues(constraint, doc)) ?? [];
  const existing = resourcePath(ctx, collection.name, holderId);
  const holder = await ctx.store.get(collection.name, holderId);
  const fields = constraint.fields;
  const taken =
    fields.length === 1
      ? `${fields[0]} ${JSON.stringify(values[0])} is`
      : `${fields.join(' + ')} ${JSON.stringify(values)} are`;
  const when = holder
    ? ` since ${new Date(holder.updatedAt).toISOString()}${holder.updatedBy ? ` (written by ${holder.updatedBy})` : ''}`
    : '';
  const link = latestLink(ctx, collection.name, id);
  return new ProblemError(
    'unique-violation',
    `${taken} already taken by ${existing}${when}${constraint.caseInsensitive ? ', compared case-insensitively' : ''}; choose another value.`,
    { fields: [...fields], values, existing, ...provenance(holder) },
    // The latest version of what is in the way: the holder, and the resource written, if it exists.
    {
      link: current ? `${link['link']}, <${existing}>; rel="related"` : `<${existing}>; rel="latest-version"`,
    },
  );
}

/** 422 `dangling-reference`: the field at `r.pointer` names a resource that does not exist. */
export function danglingProblem(r: Reference): ProblemError<'dangling-reference'> {
  return new ProblemError(
    'dangling-reference',
    `${r.pointer.slice(1)} refers to ${r.collection}/${r.id}, which does not exist.`,
    { pointer: r.pointer, collection: r.collection, id: r.id },
  );
}
