import {
  applyJsonPatch,
  applyMergePatch,
  isJsonObject,
  validateJsonPatch,
  type JsonPatchOperation,
} from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { ACCEPT_PATCH, MEDIA } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';
import type { Head, JsonObject, JsonValue } from '../store/types.js';
import type { ResourceContext } from './context.js';
import { latestLink } from './stale.js';
import { headRepresentation, META_MEMBERS } from './representation.js';
import { withState } from '../rules/states.js';
import { invalid, splitBody, type FieldError } from './validation.js';

/** The three writes on `/{c}/{id}`. */
export type ItemWrite = 'replace' | 'patch' | 'delete';

/** What a write intends, computed from the request alone before the current state is read. */
export type Intent =
  | { readonly kind: 'replace'; readonly doc: JsonObject; readonly version: JsonValue | undefined }
  | { readonly kind: 'merge-patch'; readonly patch: JsonObject; readonly version: JsonValue | undefined }
  | { readonly kind: 'json-patch'; readonly operations: readonly JsonPatchOperation[] }
  | { readonly kind: 'delete' };

/** A request's body with what says how to read it (an OperationInput is one). */
export interface BodyInput {
  readonly method: string;
  /** The media type without parameters, lower-cased. */
  readonly mediaType: string | undefined;
  readonly body: unknown;
}

/**
 * Reads what a PUT, PATCH or DELETE asks for, refusing malformed bodies before any state is read.
 * The HTTP edge calls it once per request (`http/request.ts`).
 */
export function readIntent(op: ItemWrite, id: string, input: BodyInput): Intent {
  if (op === 'delete') return { kind: 'delete' };
  if (op === 'replace') {
    const split = checkedSplit(requireJsonObject(input, [MEDIA.json]), id);
    return { kind: 'replace', doc: split.doc, version: split.version };
  }
  if (input.mediaType === MEDIA.jsonPatch) {
    if (input.body === undefined)
      throw malformed('A JSON Patch request needs a body: an array of operations.');
    const checked = validateJsonPatch(input.body);
    if (!checked.ok) {
      throw new ProblemError('malformed-request', 'The JSON Patch document is not valid (RFC 6902).', {
        errors: checked.errors,
      });
    }
    return { kind: 'json-patch', operations: checked.operations };
  }
  const split = checkedSplit(requireJsonObject(input, [MEDIA.mergePatch]), id);
  return { kind: 'merge-patch', patch: split.doc, version: split.version };
}

function checkedSplit(body: JsonObject, id: string) {
  const split = splitBody(body);
  const errors = [...split.errors];
  if (split.id !== undefined && split.id !== id) {
    errors.push({ pointer: '/id', message: `must be "${id}" (the id in the URL) or left out` });
  }
  if (errors.length > 0) throw invalid(errors);
  return split;
}

/** The document a write produces from the current one. */
export function nextDocument(
  ctx: ResourceContext,
  intent: Intent,
  current: Head | null,
  collection: CollectionConfig,
  id: string,
): JsonObject {
  switch (intent.kind) {
    case 'replace':
      return withState(collection, current, intent.doc);
    case 'merge-patch':
      return applyMergePatch(current?.doc ?? {}, intent.patch) as JsonObject;
    case 'json-patch':
      return applyOperations(ctx, intent.operations, current!, collection, id);
    case 'delete':
      throw new Error('a delete has no next document');
  }
}

/**
 * JSON Patch paths address the representation the client read (with `id` and `_version`), so a
 * `test` on `/_version` works as an optimistic check; the server-owned members must come out as
 * they went in. An operation that replaces the whole document (path `""`) may leave them out, as a
 * PUT body may: see {@link applyKeepingIdentity}.
 */
function applyOperations(
  ctx: ResourceContext,
  operations: readonly JsonPatchOperation[],
  current: Head,
  collection: CollectionConfig,
  id: string,
): JsonObject {
  const before = headRepresentation(current);
  const result = applyKeepingIdentity(before, operations);
  if (!result.ok) {
    const failure = result.error;
    if (failure.kind === 'forbidden-member') {
      throw invalid([{ pointer: failure.pointer, message: FORBIDDEN_MEMBER }]);
    }
    if (failure.kind === 'test-failed') {
      throw new ProblemError(
        'test-failed',
        `The test operation at index ${failure.index} failed: ${failure.pointer} is not the expected value.`,
        { pointer: failure.pointer, expected: failure.expected, actual: failure.actual },
        latestLink(ctx, collection.name, id),
      );
    }
    throw new ProblemError(
      'patch-conflict',
      `Operation ${failure.index} cannot be applied to ${collection.name}/${id}: ${failure.message}`,
      { operationIndex: failure.index, pointer: failure.pointer },
      latestLink(ctx, collection.name, id),
    );
  }
  if (!isJsonObject(result.value))
    throw invalid([{ pointer: '', message: 'the patched document must be an object' }]);
  const errors: FieldError[] = [];
  const doc: JsonObject = {};
  for (const [key, value] of Object.entries(result.value)) {
    if (key === 'id' || (META_MEMBERS as readonly string[]).includes(key)) {
      if (JSON.stringify(value) !== JSON.stringify(before[key])) {
        errors.push({ pointer: `/${key}`, message: 'is read-only' });
      }
    } else if (key.startsWith('_')) {
      errors.push({ pointer: `/${key}`, message: 'members starting with "_" are reserved for the server' });
    } else {
      Object.defineProperty(doc, key, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  for (const key of ['id', ...META_MEMBERS]) {
    if (!(key in result.value))
      errors.push({ pointer: `/${key}`, message: 'is read-only and cannot be removed' });
  }
  if (errors.length > 0) throw invalid(errors);
  return doc;
}

const FORBIDDEN_MEMBER = `is refused: no document may hold __proto__ or constructor/prototype`;

/**
 * Applies `operations` to `before`. RFC 6902 sections 4.1 and 4.3 let `add` and `replace` (and so
 * `copy` and `move`) with path `""` replace the whole document; the new document then gets `id`
 * and the `_` members it leaves out back from `before`, as a PUT keeps them, so later operations
 * (a `test` of `/_version`) still find them and only a value that differs is an error. The patch
 * is applied in runs that end at such an operation; the indexes of failures stay the patch's own.
 */
function applyKeepingIdentity(
  before: JsonObject,
  operations: readonly JsonPatchOperation[],
): ReturnType<typeof applyJsonPatch> {
  let doc: JsonValue = before;
  let start = 0;
  for (let i = 0; i < operations.length; i++) {
    const op = operations[i]!;
    const whole = op.path === '' && op.op !== 'test' && op.op !== 'remove';
    if (!whole && i < operations.length - 1) continue;
    const result = applyJsonPatch(doc, operations.slice(start, i + 1));
    if (!result.ok) return { ok: false, error: { ...result.error, index: result.error.index + start } };
    doc = result.value;
    if (whole && isJsonObject(doc)) {
      for (const key of ['id', ...META_MEMBERS]) {
        if (!Object.hasOwn(doc, key))
          Object.defineProperty(doc, key, {
            value: before[key],
            enumerable: true,
            writable: true,
            configurable: true,
          });
      }
    }
    start = i + 1;
  }
  return { ok: true, value: doc };
}

/** The body as a JSON object, after checking its media type is one of `accepted`. */
export function requireJsonObject(input: BodyInput, accepted: readonly string[]): JsonObject {
  const media = input.mediaType;
  if (media === undefined || !accepted.includes(media)) {
    const isPatch = input.method === 'PATCH';
    throw new ProblemError(
      'unsupported-media-type',
      `${input.method} takes ${accepted.join(' or ')}${isPatch ? ` (or ${MEDIA.jsonPatch})` : ''}, not ${media ?? 'a body without Content-Type'}.`,
      {},
      isPatch ? { 'accept-patch': ACCEPT_PATCH } : {},
    );
  }
  if (input.body === undefined) throw malformed(`${input.method} needs a JSON object body.`);
  if (!isJsonObject(input.body as JsonValue)) {
    throw malformed(`The body must be a JSON object, not ${describe(input.body)}.`);
  }
  return input.body as JsonObject;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

function malformed(detail: string): ProblemError {
  return new ProblemError('malformed-request', detail, { errors: [{ pointer: '', message: detail }] });
}
