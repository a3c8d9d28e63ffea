import {
  applyJsonPatch,
  evaluatePreconditions,
  getByPointer,
  hasWritePrecondition,
  isJsonObject,
  parsePointer,
  type ParsedPreconditions,
} from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { MEDIA } from '../http/body.js';
import { ProblemError } from '../http/problem-error.js';
import { brokenBound, numberSchemaAt, type NumberSchema } from '../rules/bounds.js';
import { checkDocument } from '../rules/check.js';
import { boundProblem, commitProblem, notANumber } from '../rules/failures.js';
import type { Increment, JsonObject } from '../store/types.js';
import { busy, commitOne, MAX_ROUNDS, writtenResult } from './commit.js';
import { actorOf, type OperationInput, type OperationResult, type ResourceContext } from './context.js';
import { requireJsonObject } from './intent.js';
import { readPreconditions, selected } from './preconditions.js';
import { live } from './representation.js';
import { staleWrite } from './stale.js';
import { invalid } from './validation.js';

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
  const actor = actorOf(ctx, input.headers);
  const p = readPreconditions(input.headers);
  const { pointer, by } = readBody(input);
  const field = parsePointer(pointer)[0]!;
  const numberSchema = numberSchemaAt(collection.schema, pointer);
  if (numberSchema?.integer && !Number.isInteger(by)) {
    throw invalid([{ pointer: '/by', message: `must be an integer: ${pointer} is an integer field` }]);
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
    const result = await ctx.store.commit([
      {
        collection: collection.name,
        id,
        expectVersion: null,
        doc: null,
        increment,
        actor,
        keepHistory: collection.historyKeep,
      },
    ]);
    if (result.ok) return writtenResult(ctx, collection, result.heads[0]!, false);
    if (result.reason === 'version-mismatch') throw new Error('a blind increment cannot lose a race');
    throw commitProblem(ctx, collection, id, result, null, increment);
  }
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const head = await ctx.store.get(collection.name, id);
    const current = live(head);
    if (!current) throw new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
    await checkIncrementPreconditions(ctx, collection, id, p, head);
    const doc = incremented(ctx, collection, id, current.doc ?? {}, increment, numberSchema);
    const indexed = checkDocument(ctx, collection, id, current.doc, doc);
    const written = await commitOne(ctx, collection, id, {
      expectVersion: current.version,
      doc,
      actor,
      indexed,
    });
    if (written) return writtenResult(ctx, collection, written, false);
  }
  throw busy(collection.name, id);
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
  }
  if (typeof by !== 'number' || !Number.isFinite(by))
    errors.push({ pointer: '/by', message: 'must be a finite number' });
  for (const key of Object.keys(body)) {
    if (key !== 'pointer' && key !== 'by')
      errors.push({ pointer: `/${key}`, message: 'is not a member of an increment' });
  }
  if (errors.length > 0) throw invalid(errors);
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

/** The document with the increment applied, or the bound problem (computed like the store would). */
function incremented(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  doc: JsonObject,
  increment: Increment,
  schema: NumberSchema | undefined,
): JsonObject {
  const found = getByPointer(doc, increment.pointer);
  const value = found.found ? found.value : 0;
  if (typeof value !== 'number') throw notANumber(collection, id, increment.pointer);
  const next = value + increment.by;
  const broken = schema && brokenBound(schema, next);
  if (broken)
    throw boundProblem(ctx, collection, id, {
      pointer: increment.pointer,
      by: increment.by,
      value,
      ...broken,
    });
  const op = found.found ? 'replace' : 'add';
  const result = applyJsonPatch(doc, [{ op, path: increment.pointer, value: next }]);
  if (!result.ok || !isJsonObject(result.value)) throw notANumber(collection, id, increment.pointer);
  return result.value;
}

async function checkIncrementPreconditions(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  p: ParsedPreconditions,
  head: Parameters<typeof selected>[0],
): Promise<void> {
  const outcome = evaluatePreconditions('POST', p, selected(live(head)));
  if (outcome.result !== 'failed') return;
  if (outcome.failed === 'if-none-match') {
    throw new ProblemError(
      'precondition-failed',
      `${collection.name}/${id} is at a version your If-None-Match excludes.`,
      {
        currentEtag: live(head)?.etag ?? null,
      },
    );
  }
  throw await staleWrite(ctx, collection, id, head, p, outcome.failed);
}
