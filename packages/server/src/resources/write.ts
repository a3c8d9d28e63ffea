import { evaluatePreconditions, hasWritePrecondition, type ParsedPreconditions } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { MEDIA } from '../http/body.js';
import { ProblemError } from '../http/problem-error.js';
import type { Head, JsonObject } from '../store/types.js';
import {
  actorOf,
  resourcePath,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from './context.js';
import { idProblem, newId } from './ids.js';
import { readPreconditions, selected } from './preconditions.js';
import { nextDocument, readIntent, requireJsonObject, type ItemWrite } from './intent.js';
import { headRepresentation, live, validatorHeaders } from './representation.js';
import { latestLink, staleWrite } from './stale.js';
import { invalid, schemaErrors, splitBody } from './validation.js';

/**
 * A lost compare-and-set means another writer committed between our read and our write; we then
 * re-read and re-evaluate everything. Each lost round is someone else's success, so this only runs
 * out under extreme contention, and then the client is told to come back (503 busy).
 */
const MAX_ROUNDS = 64;

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

function validateDocument(ctx: ResourceContext, collection: CollectionConfig, doc: JsonObject): void {
  const errors = schemaErrors(ctx.validators.get(collection.name), doc);
  if (errors.length > 0) throw invalid(errors);
}

function busy(collection: string, id: string): ProblemError {
  return new ProblemError(
    'busy',
    `${collection}/${id} is being written too often to get a turn; retry shortly.`,
    {},
    { 'retry-after': '1' },
  );
}
