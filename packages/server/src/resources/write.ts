import { hasWritePrecondition, type ParsedPreconditions } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import type { Head, VersionRecord } from '../store/types.js';
import { MEDIA } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';
import {
  need,
  resourcePath,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from './context.js';
import { idProblem, newId } from './ids.js';
import { nextDocument, requireJsonObject } from './intent.js';
import { live, provenance } from './representation.js';
import { mergeOntoCurrent, staleBase } from './merge.js';
import { busy, commitOne, casTurns, preconditionRequired, versionConflict, writtenResult } from './commit.js';
import { compareAndSet } from './compare-and-set.js';
import { checkDocument } from '../rules/check.js';
import { withState } from '../rules/states.js';
import { checkWritePreconditions, latestLink } from './stale.js';
import { invalid, splitBody } from './validation.js';

/** PUT, PATCH and DELETE on `/{c}/{id}`: RFC 9110 preconditions, then one atomic compare-and-set. */
export async function writeItem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  input: OperationInput,
): Promise<OperationResult> {
  const actor = need(input.actor);
  const p = need(input.preconditions);
  if (input.intent === undefined)
    throw new Error(`${input.method} ${input.instance} is not a resource write`);
  const intent = need(input.intent);
  const base = need(input.base);
  const lockToken = need(input.lockToken);
  const versionCheck = 'version' in intent && intent.version !== undefined && intent.version !== null;
  // A JSON Patch `test` is an explicit optimistic check too, so it satisfies requirePreconditions.
  const tested = intent.kind === 'json-patch' && intent.operations.some((o) => o.op === 'test');
  const unconditional =
    collection.requirePreconditions &&
    !hasWritePrecondition(p) &&
    !versionCheck &&
    !tested &&
    base === undefined;

  // The base a write merges from (SPEC 3.7), as the current version decides it.
  const mergeBase = (current: Head | null) =>
    base !== undefined && base !== current?.etag ? base : undefined;
  // A version never changes, so a write that loses its compare-and-set round after round (many
  // writers merging into one document) looks its base up in history once, not once per round.
  const bases = new Map<string, Promise<VersionRecord | null>>();
  const readBase = (etag: string) => {
    let found = bases.get(etag);
    if (found === undefined) bases.set(etag, (found = ctx.store.versionByEtag(collection.name, id, etag)));
    return found;
  };
  const { written, current } = await compareAndSet(
    ctx,
    collection,
    id,
    { actor, lockToken },
    async ({ head, current }) => {
      // RFC 9110 13.2.1: preconditions are ignored when the response without them would not be 2xx/412.
      if (!current && intent.kind !== 'replace') {
        throw new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
      }
      if (unconditional) throw preconditionRequired(collection);
      await checkWritePreconditions(ctx, collection, id, input.method, p, head);
      if (versionCheck && 'version' in intent && intent.version !== (current?.version ?? null)) {
        throw versionConflict(ctx, collection, current, intent.version as number, id);
      }
      // Truce-Base (SPEC 3.7): an edit made against an older version merges with what came since.
      const mergedFrom = mergeBase(current);
      if (mergedFrom !== undefined && (intent.kind === 'delete' || !current)) {
        throw await staleBase(ctx, collection, id, head, mergedFrom);
      }
      if (intent.kind === 'delete') return null;
      return mergedFrom !== undefined
        ? await mergeOntoCurrent(ctx, collection, id, intent, mergedFrom, current!, readBase)
        : nextDocument(ctx, intent, current, collection, id);
    },
  );
  if (written.deleted) return { status: 204, headers: {} };
  const result = writtenResult(ctx, collection, written, !current);
  const mergedFrom = mergeBase(current);
  if (mergedFrom !== undefined) result.headers['truce-merged'] = mergedFrom;
  return result;
}

/** POST `/{c}`: create with a client-chosen or server-generated id. */
export async function createItem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  input: OperationInput,
): Promise<OperationResult> {
  const actor = need(input.actor);
  collectionPreconditions(collection, need(input.preconditions));
  const body = requireJsonObject(input, [MEDIA.json]);
  const split = splitBody(body);
  if (split.errors.length > 0) throw invalid(split.errors);
  if (split.id !== undefined) {
    const problem = idProblem(split.id);
    if (problem) {
      throw new ProblemError('malformed-request', problem, {
        errors: [{ pointer: '/id', message: problem }],
      });
    }
  }
  const id = (split.id as string | undefined) ?? newId();
  const doc = withState(collection, null, split.doc);
  const indexed = await checkDocument(ctx, collection, id, null, doc);

  for await (const _round of casTurns(ctx, collection.name, id)) {
    const head = await ctx.store.get(collection.name, id);
    if (live(head)) {
      throw new ProblemError(
        'already-exists',
        `${collection.name}/${id} already exists; choose another id, or PUT to change it.`,
        { existing: resourcePath(ctx, collection.name, id), ...provenance(head) },
        latestLink(ctx, collection.name, id),
      );
    }
    const written = await commitOne(ctx, collection, id, {
      expectVersion: head?.version ?? 0,
      doc,
      actor,
      indexed,
      current: null,
    });
    if (written) return writtenResult(ctx, collection, written, true);
  }
  throw busy(collection.name, id);
}

/**
 * RFC 9110 13.1: a POST's conditions are about the collection, which exists and has no entity
 * tag, so an If-Match other than `*` and an If-None-Match of `*` can never be true.
 */
function collectionPreconditions(collection: CollectionConfig, p: ParsedPreconditions): void {
  if (p.ifMatch && !p.ifMatch.any) {
    throw new ProblemError(
      'precondition-failed',
      `The collection ${collection.name} has no entity tag, so If-Match on POST can only be *; to change a resource, PUT or PATCH its own URL.`,
      { currentEtag: null },
    );
  }
  if (p.ifNoneMatch?.any) {
    throw new ProblemError(
      'precondition-failed',
      `The collection ${collection.name} exists, so If-None-Match: * is false; to create only if absent, PUT to the resource URL with If-None-Match: *.`,
      { currentEtag: null },
    );
  }
}
