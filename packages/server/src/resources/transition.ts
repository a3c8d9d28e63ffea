import { applyMergePatch, hasWritePrecondition, isJsonObject } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { MEDIA } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';
import { invalidTransition, stateOf } from '../rules/states.js';
import type { JsonObject } from '../store/types.js';
import { preconditionRequired, versionConflict, writtenResult } from './commit.js';
import { compareAndSet } from './compare-and-set.js';
import { need, type OperationInput, type OperationResult, type ResourceContext } from './context.js';
import { checkWritePreconditions } from './stale.js';
import { invalid, splitBody } from './validation.js';

/**
 * POST `/{c}/{id}/_transitions/{name}`: moves the state field along a named transition, applying
 * the optional merge-patch body in the same atomic write (SPEC 3.2, 3.6).
 */
export async function runTransition(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  name: string,
  input: OperationInput,
): Promise<OperationResult> {
  const machine = collection.states;
  const transition = machine?.transitions.get(name);
  if (!machine || !transition) {
    const names = machine ? [...machine.transitions.keys()].join(', ') : 'none: the collection has no states';
    throw new ProblemError(
      'not-found',
      `${collection.name} has no transition "${name}" (transitions: ${names}).`,
    );
  }
  const actor = need(input.actor);
  need(input.base); // refused here: a transition or increment does not merge
  const lockToken = need(input.lockToken);
  const p = need(input.preconditions);
  const { patch, version } = readPatch(input, machine.field, id);
  const conditional = hasWritePrecondition(p) || version !== undefined;

  const by = { actor, lockToken, transition };
  const { written } = await compareAndSet(ctx, collection, id, by, async ({ head, current }) => {
    if (!current) throw new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
    if (collection.requirePreconditions && !conditional) throw preconditionRequired(collection);
    await checkWritePreconditions(ctx, collection, id, 'POST', p, head);
    if (version !== undefined && version !== current.version)
      throw versionConflict(ctx, collection, current, version);
    const state = stateOf(machine, current.doc);
    if (!transition.from.some((f) => f === state)) {
      throw invalidTransition(
        ctx,
        collection,
        id,
        current,
        name,
        state === transition.to
          ? `${collection.name}/${id} is already in state ${JSON.stringify(state)}; "${name}" would not change it.`
          : undefined,
      );
    }
    const patched = applyMergePatch(current.doc ?? {}, patch) as JsonObject;
    return { ...patched, [machine.field]: transition.to };
  });
  return writtenResult(ctx, collection, written, false);
}

/** The optional body: a merge patch of other fields (the transition alone decides the state). */
function readPatch(
  input: OperationInput,
  stateField: string,
  id: string,
): { patch: JsonObject; version: number | undefined } {
  if (input.body === undefined) return { patch: {}, version: undefined };
  const media = input.mediaType;
  if (media !== MEDIA.mergePatch && media !== MEDIA.json) {
    throw new ProblemError(
      'unsupported-media-type',
      `A transition body is a JSON merge patch: send it as ${MEDIA.mergePatch} (or ${MEDIA.json}).`,
    );
  }
  if (!isJsonObject(input.body as never)) {
    throw new ProblemError('malformed-request', 'A transition body must be a JSON object (a merge patch).', {
      errors: [{ pointer: '', message: 'must be an object' }],
    });
  }
  const split = splitBody(input.body as JsonObject);
  const errors = [...split.errors];
  if (Object.hasOwn(split.doc, stateField)) {
    errors.push({ pointer: `/${stateField}`, message: 'is set by the transition; leave it out of the body' });
  }
  if (split.id !== undefined && split.id !== id)
    errors.push({ pointer: '/id', message: `must be "${id}" or left out` });
  if (errors.length > 0) throw invalid(errors);
  return {
    patch: split.doc,
    version: split.version === null ? undefined : (split.version as number | undefined),
  };
}
