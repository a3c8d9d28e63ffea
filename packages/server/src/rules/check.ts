import type { CollectionConfig, Transition } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { ResourceContext } from '../resources/context.js';
import { invalid, schemaErrors } from '../resources/validation.js';
import type { Head, JsonObject, Reference, UniqueKey } from '../store/types.js';
import { provenance } from '../resources/representation.js';
import { latestLink } from '../resources/stale.js';
import { referenceErrors, referencesOf } from './references.js';
import { transitionOfWrite } from './states.js';
import { uniqueKeysOf } from './unique.js';

/** What the store needs besides the document, computed from it. */
export interface Indexed {
  readonly uniqueKeys: UniqueKey[] | undefined;
  readonly references: Reference[] | undefined;
}

/**
 * Checks a document a write would produce, in the order a client can act on: the schema and
 * reference ids (422, fix the input), the state machine and its guard (409), then the collection
 * rules (409). Unique keys and reference targets are checked by the store inside the commit.
 *
 * `transition` is the named transition being run; for plain writes the transition is derived
 * from a change of the state field.
 */
export function checkDocument(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  current: Head | null,
  after: JsonObject,
  transition?: Transition,
): Indexed {
  const compiled = ctx.compiled.get(collection.name)!;
  const errors = [...schemaErrors(compiled.schema, after), ...referenceErrors(collection, after)];
  if (errors.length > 0) throw invalid(errors);

  const moved = transition ?? transitionOfWrite(ctx, collection, id, current, after);
  const guard = moved && compiled.guards.get(moved.name);
  if (moved && guard && !guard(after)) {
    const guardErrors = schemaErrors(guard, after);
    throw new ProblemError(
      'transition-guard-failed',
      `"${moved.name}" is refused by its guard: ${guardErrors.map((e) => `${e.pointer || 'the document'} ${e.message}`).join('; ')}.`,
      { transition: moved.name, errors: guardErrors, ...provenance(current) },
      latestLink(ctx, collection.name, id),
    );
  }

  for (const { rule, validate } of compiled.rules) {
    if (validate(after)) continue;
    throw new ProblemError(
      'rule-violated',
      `${rule.message} (rule "${rule.name}").`,
      {
        rule: rule.name,
        message: rule.message,
        errors: schemaErrors(validate, after),
        ...provenance(current),
      },
      latestLink(ctx, collection.name, id),
    );
  }
  return { uniqueKeys: uniqueKeysOf(collection, after), references: referencesOf(collection, after) };
}
