import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { ViolationCode } from '@truce/protocol';
import type { CollectionConfig, Rule, Transition } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { ResourceContext } from '../resources/context.js';
import { invalid, schemaErrors, type FieldError } from '../resources/validation.js';
import type { Head, JsonObject, Reference, UniqueKey } from '../store/types.js';
import { provenance } from '../resources/representation.js';
import { latestLink } from '../resources/stale.js';
import { referenceErrors, referencesOf } from './references.js';
import { transitionOfWrite } from './states.js';
import { uniqueKeysOf } from './unique.js';
import { storedViolations, violationsProblem } from './violations.js';

/** What the store needs besides the document, computed from it. */
export interface Indexed {
  readonly uniqueKeys: UniqueKey[] | undefined;
  readonly references: Reference[] | undefined;
}

/**
 * Checks a document a write would produce, in the order a client can act on: the schema and
 * reference ids (422 with every error, fix the input), then the business rules: the state machine
 * and its guard (409), the collection rules (409), reference targets (422) and unique keys (409).
 * Schema errors alone are reported first; the business rules are all checked, and every one broken
 * is reported in one problem ({@link violationsProblem}). When none of the rules checked here is
 * broken, references and unique keys are left to the store, which checks them inside the commit.
 *
 * `transition` is the named transition being run; for plain writes the transition is derived
 * from a change of the state field.
 */
export async function checkDocument(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  current: Head | null,
  after: JsonObject,
  transition?: Transition,
): Promise<Indexed> {
  const compiled = ctx.compiled.get(collection.name)!;
  const errors = [...schemaErrors(compiled.schema, after), ...referenceErrors(collection, after)];
  if (errors.length > 0) throw invalid(errors);
  const broken: ProblemError<ViolationCode>[] = [];
  const change = transition ? { transition } : transitionOfWrite(ctx, collection, id, current, after);
  if (change.refused) broken.push(change.refused);
  const moved = change.transition;
  const guard = moved && compiled.guards.get(moved.name);
  if (moved && guard && !guard(after)) {
    const guardErrors = schemaErrors(guard, after);
    broken.push(
      new ProblemError(
        'transition-guard-failed',
        `"${moved.name}" is refused by its guard: ${guardErrors.map((e) => `${e.pointer || 'the document'} ${e.message}`).join('; ')}.`,
        { transition: moved.name, errors: guardErrors, ...provenance(current) },
        latestLink(ctx, collection.name, id),
      ),
    );
  }
  for (const { rule, validate } of compiled.rules) {
    if (validate(after)) continue;
    broken.push(
      new ProblemError(
        'rule-violated',
        `${rule.message} (rule "${rule.name}").`,
        {
          rule: rule.name,
          message: rule.message,
          errors: ruleErrors(rule, validate, after),
          ...provenance(current),
        },
        latestLink(ctx, collection.name, id),
      ),
    );
  }
  if (broken.length > 0) {
    // Refused before the commit: what the store would also have refused is found by reading.
    const stored = await storedViolations(ctx, collection, id, after, current);
    throw violationsProblem([...broken, ...stored.map((v) => v.problem)]);
  }
  return { uniqueKeys: uniqueKeysOf(collection, after), references: referencesOf(collection, after) };
}

/**
 * The errors of a broken rule. Some keywords fail without saying why: `not` can only report that
 * the document matched what it must not ("must NOT be valid"), and a `false` schema that it
 * exists. There the rule's own `message` is the explanation.
 */
function ruleErrors(rule: Rule, validate: ValidateFunction, doc: JsonObject): FieldError[] {
  const errors = schemaErrors(validate, doc);
  // schemaErrors maps validate.errors one to one, so the keyword of errors[i] is that of raw[i].
  const raw: readonly ErrorObject[] = validate.errors ?? [];
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const [i, error] of errors.entries()) {
    const keyword = raw[i]?.keyword;
    const e = keyword === 'not' || keyword === 'false schema' ? { ...error, message: rule.message } : error;
    const key = JSON.stringify([e.pointer, e.message]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}
