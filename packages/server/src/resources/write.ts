import {
  applyJsonPatch,
  applyMergePatch,
  evaluatePreconditions,
  hasWritePrecondition,
  isJsonObject,
  validateJsonPatch,
  type JsonPatchOperation,
  type ParsedPreconditions,
} from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { ACCEPT_PATCH, MEDIA, mediaTypeOf } from '../http/body.js';
import { ProblemError } from '../http/problem-error.js';
import type { Head, JsonObject, JsonValue } from '../store/types.js';
import {
  actorOf,
  header,
  resourcePath,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from './context.js';
import { idProblem, newId } from './ids.js';
import { readPreconditions, selected } from './preconditions.js';
import { headRepresentation, live, META_MEMBERS, validatorHeaders } from './representation.js';
import { latestLink, staleWrite } from './stale.js';
import { schemaErrors, splitBody, type FieldError } from './validation.js';

/**
 * A lost compare-and-set means another writer committed between our read and our write; we then
 * re-read and re-evaluate everything. Each lost round is someone else's success, so this only runs
 * out under extreme contention, and then the client is told to come back (503 busy).
 */
const MAX_ROUNDS = 64;

type ItemWrite = 'replace' | 'patch' | 'delete';

/** What a write intends, computed from the request alone before the current state is read. */
type Intent =
  | { readonly kind: 'replace'; readonly doc: JsonObject; readonly version: JsonValue | undefined }
  | { readonly kind: 'merge-patch'; readonly patch: JsonObject; readonly version: JsonValue | undefined }
  | { readonly kind: 'json-patch'; readonly operations: readonly JsonPatchOperation[] }
  | { readonly kind: 'delete' };

/** PUT, PATCH and DELETE on `/{c}/{id}`: RFC 9110 preconditions, then one atomic compare-and-set. */
export async function writeItem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  op: ItemWrite,
  input: OperationInput,
): Promise<OperationResult> {
  const actor = actorOf(ctx, input.headers);
  const p = readPreconditions(input.headers);
  const intent = readIntent(op, id, input);
  const versionCheck = 'version' in intent && intent.version !== undefined && intent.version !== null;
  if (collection.requirePreconditions && !hasWritePrecondition(p) && !versionCheck) {
    throw new ProblemError(
      'precondition-required',
      `Writes to ${collection.name} must be conditional: send If-Match with the ETag you read (or If-None-Match: * to create).`,
    );
  }

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const head = await ctx.store.get(collection.name, id);
    const current = live(head);
    // RFC 9110 13.2.1: preconditions are ignored when the response without them would not be 2xx/412.
    if (!current && intent.kind !== 'replace') {
      throw new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
    }
    await checkPreconditions(ctx, collection, id, input.method, p, head);
    if (versionCheck && 'version' in intent && intent.version !== (current?.version ?? null)) {
      throw new ProblemError(
        'version-conflict',
        `You sent _version ${String(intent.version)}, but ${collection.name}/${id} is at ${current ? `version ${current.version}` : 'no version (it does not exist)'}.`,
        {
          currentVersion: current?.version ?? null,
          yourVersion: intent.version as number,
          current: current ? headRepresentation(current) : null,
        },
        latestLink(ctx, collection.name, id),
      );
    }
    const doc = intent.kind === 'delete' ? null : nextDocument(intent, current, collection, id);
    if (doc) validateDocument(ctx, collection, doc);

    const result = await ctx.store.commit([
      {
        collection: collection.name,
        id,
        expectVersion: head?.version ?? 0,
        doc,
        actor,
        keepHistory: collection.historyKeep,
      },
    ]);
    if (!result.ok) continue;
    const written = result.heads[0]!;
    if (doc === null) return { status: 204, headers: {} };
    const created = !current;
    return {
      status: created ? 201 : 200,
      headers: {
        ...validatorHeaders(written.etag, written.updatedAt),
        ...(created ? { location: resourcePath(ctx, collection.name, id) } : {}),
      },
      body: headRepresentation(written),
    };
  }
  throw busy(collection.name, id);
}

/** POST `/{c}`: create with a client-chosen or server-generated id. */
export async function createItem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  input: OperationInput,
): Promise<OperationResult> {
  const actor = actorOf(ctx, input.headers);
  const body = requireJsonObject(input, [MEDIA.json]);
  const split = splitBody(body);
  const errors = [...split.errors];
  if (split.id !== undefined) {
    const problem = idProblem(split.id);
    if (problem) {
      throw new ProblemError('malformed-request', problem, {
        errors: [{ pointer: '/id', message: problem }],
      });
    }
  }
  errors.push(...schemaErrors(ctx.validators.get(collection.name), split.doc));
  if (errors.length > 0) throw invalid(errors);
  const id = (split.id as string | undefined) ?? newId();

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const head = await ctx.store.get(collection.name, id);
    if (live(head)) {
      throw new ProblemError(
        'already-exists',
        `${collection.name}/${id} already exists; choose another id, or PUT to change it.`,
        { existing: resourcePath(ctx, collection.name, id) },
        latestLink(ctx, collection.name, id),
      );
    }
    const result = await ctx.store.commit([
      {
        collection: collection.name,
        id,
        expectVersion: head?.version ?? 0,
        doc: split.doc,
        actor,
        keepHistory: collection.historyKeep,
      },
    ]);
    if (!result.ok) continue;
    const written = result.heads[0]!;
    return {
      status: 201,
      headers: {
        ...validatorHeaders(written.etag, written.updatedAt),
        location: resourcePath(ctx, collection.name, id),
      },
      body: headRepresentation(written),
    };
  }
  throw busy(collection.name, id);
}

async function checkPreconditions(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  method: string,
  p: ParsedPreconditions,
  head: Head | null,
): Promise<void> {
  const current = live(head);
  const outcome = evaluatePreconditions(method, p, selected(current));
  if (outcome.result !== 'failed') return;
  if (outcome.failed !== 'if-none-match') {
    throw await staleWrite(ctx, collection, id, head, p, outcome.failed);
  }
  const existing = resourcePath(ctx, collection.name, id);
  if (p.ifNoneMatch?.any) {
    throw new ProblemError(
      'already-exists',
      `${collection.name}/${id} already exists and If-None-Match: * asked to create it only if absent.`,
      { status: 412, existing },
      latestLink(ctx, collection.name, id),
    );
  }
  throw new ProblemError(
    'precondition-failed',
    `${collection.name}/${id} is still at a version your If-None-Match excludes.`,
    { currentEtag: current?.etag ?? null },
    latestLink(ctx, collection.name, id),
  );
}

function readIntent(op: ItemWrite, id: string, input: OperationInput): Intent {
  if (op === 'delete') return { kind: 'delete' };
  if (op === 'replace') {
    const split = checkedSplit(requireJsonObject(input, [MEDIA.json]), id);
    return { kind: 'replace', doc: split.doc, version: split.version };
  }
  const media = mediaTypeOf(header(input.headers, 'content-type'));
  if (media === MEDIA.jsonPatch) {
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

function nextDocument(
  intent: Intent,
  current: Head | null,
  collection: CollectionConfig,
  id: string,
): JsonObject {
  switch (intent.kind) {
    case 'replace':
      return intent.doc;
    case 'merge-patch':
      return applyMergePatch(current?.doc ?? {}, intent.patch) as JsonObject;
    case 'json-patch':
      return applyOperations(intent.operations, current!, collection, id);
    case 'delete':
      throw new Error('a delete has no next document');
  }
}

/**
 * JSON Patch paths address the representation the client read (with `id` and `_version`), so a
 * `test` on `/_version` works as an optimistic check; the server-owned members must come out as
 * they went in.
 */
function applyOperations(
  operations: readonly JsonPatchOperation[],
  current: Head,
  collection: CollectionConfig,
  id: string,
): JsonObject {
  const before = headRepresentation(current);
  const result = applyJsonPatch(before, operations);
  if (!result.ok) {
    const failure = result.error;
    if (failure.kind === 'test-failed') {
      throw new ProblemError(
        'test-failed',
        `The test operation at index ${failure.index} failed: ${failure.pointer} is not the expected value.`,
        { pointer: failure.pointer, expected: failure.expected, actual: failure.actual },
        {},
      );
    }
    throw new ProblemError(
      'patch-conflict',
      `Operation ${failure.index} cannot be applied to ${collection.name}/${id}: ${failure.message}`,
      { operationIndex: failure.index, pointer: failure.pointer },
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

function validateDocument(ctx: ResourceContext, collection: CollectionConfig, doc: JsonObject): void {
  const errors = schemaErrors(ctx.validators.get(collection.name), doc);
  if (errors.length > 0) throw invalid(errors);
}

/** The body as a JSON object, after checking its media type is one of `accepted`. */
function requireJsonObject(input: OperationInput, accepted: readonly string[]): JsonObject {
  const media = mediaTypeOf(header(input.headers, 'content-type'));
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

function invalid(errors: FieldError[]): ProblemError {
  const first = errors[0]!;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return new ProblemError(
    'validation-failed',
    `${first.pointer || 'the document'} ${first.message}${more}.`,
    {
      errors,
    },
  );
}

function busy(collection: string, id: string): ProblemError {
  return new ProblemError(
    'busy',
    `${collection}/${id} is being written too often to get a turn; retry shortly.`,
    {},
    { 'retry-after': '1' },
  );
}
