import { cloneJson, hasWritePrecondition, isForbiddenMember, parsePointer } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { MEDIA } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';
import { numberSchemaAt, type NumberSchema } from '../rules/bounds.js';
import { boundProblem, notANumber } from '../rules/failures.js';
import { applyIncrement } from '../store/increment.js';
import type { CommitFailure, Head, Increment, JsonObject, WriteOp } from '../store/types.js';
import { preconditionRequired, writtenResult } from './commit.js';
import { compareAndSet } from './compare-and-set.js';
import { need, type OperationInput, type OperationResult, type ResourceContext } from './context.js';
import { requireJsonObject } from './intent.js';
import { live } from './representation.js';
import { checkWritePreconditions } from './stale.js';
import { invalid } from './validation.js';
import { commitAnswered } from './idempotency.js';
import { lockedProblem } from './lock.js';

/**
 * POST `/{c}/{id}/_increment` `{ "pointer": "/stock", "by": -2 }`: an atomic add bounded by the
 * schema's minimum and maximum (SPEC 3.2, 3.6).
 *
 * When nothing but the bounds could object to the new value, the store adds to whatever version is
 * current inside its transaction: concurrent increments never conflict or retry. Otherwise (rules,
 * a richer schema for the field, a unique or state field, or preconditions) the whole document is
 * computed and checked here and committed with a compare-and-set.
 */
export async function runIncrement(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  input: OperationInput,
): Promise<OperationResult> {
  const actor = need(input.actor);
  need(input.base); // refused here: a transition or increment does not merge
  const lockToken = need(input.lockToken);
  const p = need(input.preconditions);
  const { pointer, by } = readBody(input);
  const field = parsePointer(pointer)[0]!;
  const numberSchema = numberSchemaAt(collection.schema, pointer);
  if (numberSchema?.integer && !Number.isInteger(by)) {
    throw invalid([{ pointer: '/by', message: `must be an integer: ${pointer} is an integer field` }]);
  }
  if (collection.requirePreconditions && !hasWritePrecondition(p)) {
    // A missing resource is 404 before it is 428, as for PUT, PATCH, DELETE and transitions.
    if (!live(await ctx.store.get(collection.name, id))) {
      throw new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
    }
    throw preconditionRequired(collection);
  }
  const increment: Increment = { pointer, by, ...bounds(numberSchema) };
  const blind =
    numberSchema?.boundsOnly === true &&
    collection.rules.length === 0 &&
    collection.states?.field !== field &&
    !collection.unique.some((u) => u.fields.includes(field)) &&
    !collection.references.some((r) => r.field === field) &&
    !hasWritePrecondition(p);

  if (blind) {
    // One commit, answered from its outcome alone: under an Idempotency-Key, the claim, the
    // increment and the stored answer share one transaction (idempotency.ts).
    const op: WriteOp = {
      collection: collection.name,
      id,
      expectVersion: null,
      doc: null,
      increment,
      actor,
      keepHistory: collection.historyKeep,
      lock: { token: lockToken ?? null, now: ctx.now() },
    };
    return commitAnswered(ctx, input, [op], (result) =>
      result.ok
        ? writtenResult(ctx, collection, result.heads[0]!, false)
        : blindRefusal(ctx, collection, id, result, increment),
    );
  }
  const { written } = await compareAndSet(
    ctx,
    collection,
    id,
    { actor, lockToken },
    async ({ head, current }) => {
      if (!current) throw new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
      await checkWritePreconditions(ctx, collection, id, 'POST', p, head);
      return incremented(ctx, collection, current, increment);
    },
  );
  return writtenResult(ctx, collection, written, false);
}

/**
 * The problem for a refused blind increment, without a read: with no unique keys or references on
 * the op, and no version to compare, only these refusals can happen (commitProblem is async for the
 * unique-violation it may have to look up; this answer is computed inside the transaction).
 */
function blindRefusal(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  failure: CommitFailure,
  increment: Increment,
): ProblemError {
  switch (failure.reason) {
    case 'out-of-bounds': {
      const { value, bound, limit } = failure;
      return boundProblem(ctx, collection, id, { ...increment, value, bound, limit }, failure.current);
    }
    case 'not-found':
      return new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
    case 'not-a-number':
      return notANumber(collection, id, increment.pointer);
    case 'locked':
      return lockedProblem(ctx, collection, id, failure);
    default:
      throw new Error(`a blind increment cannot be refused for ${failure.reason}`);
  }
}

function readBody(input: OperationInput): { pointer: string; by: number } {
  const body = requireJsonObject(input, [MEDIA.json]);
  const errors: { pointer: string; message: string }[] = [];
  const pointer = body['pointer'];
  const by = body['by'];
  if (typeof pointer !== 'string' || pointer === '' || !isValidPointer(pointer)) {
    errors.push({ pointer: '/pointer', message: 'must be a JSON Pointer to a number, like "/stock"' });
  } else if (pointer.startsWith('/_') || pointer === '/id') {
    errors.push({ pointer: '/pointer', message: 'cannot address id or a member starting with _' });
  } else if (parsePointer(pointer).some((token, i, tokens) => isForbiddenMember(tokens[i - 1], token))) {
    // An increment of a missing member creates it: the same names JSON Patch may not create.
    errors.push({ pointer: '/pointer', message: 'cannot address __proto__ or constructor/prototype' });
  }
  if (typeof by !== 'number' || !Number.isFinite(by))
    errors.push({ pointer: '/by', message: 'must be a finite number' });
  for (const key of Object.keys(body)) {
    if (key !== 'pointer' && key !== 'by')
      errors.push({ pointer: `/${key}`, message: 'is not a member of an increment' });
  }
  if (errors.length > 0) {
    throw new ProblemError('malformed-request', 'An increment is { "pointer": "/field", "by": number }.', {
      errors,
    });
  }
  return { pointer: pointer as string, by: by as number };
}

function isValidPointer(pointer: string): boolean {
  try {
    parsePointer(pointer);
    return true;
  } catch {
    return false;
  }
}

function bounds(s: NumberSchema | undefined): Omit<Increment, 'pointer' | 'by'> {
  return s
    ? {
        minimum: s.minimum,
        maximum: s.maximum,
        exclusiveMinimum: s.exclusiveMinimum,
        exclusiveMaximum: s.exclusiveMaximum,
      }
    : {};
}

/** The document with the increment applied, by the same rules the store applies it. */
function incremented(
  ctx: ResourceContext,
  collection: CollectionConfig,
  current: Head,
  increment: Increment,
): JsonObject {
  const outcome = applyIncrement(cloneJson(current.doc ?? {}), increment);
  if (outcome.ok) return outcome.doc;
  if (outcome.reason === 'not-a-number') throw notANumber(collection, current.id, increment.pointer);
  throw boundProblem(
    ctx,
    collection,
    current.id,
    { pointer: increment.pointer, by: increment.by, ...outcome },
    current,
  );
}
