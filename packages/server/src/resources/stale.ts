import { diffJson, evaluatePreconditions, parseEntityTag, type ParsedPreconditions } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { Head } from '../store/types.js';
import { resourcePath, type ResourceContext } from './context.js';
import { selected, yourEtag } from './preconditions.js';
import { headRepresentation, live, provenance, versionRepresentation } from './representation.js';

/** Link to the current version, sent with every 409 and 412 (SPEC 3.4). */
export function latestLink(ctx: ResourceContext, collection: string, id: string): Record<string, string> {
  return { link: `<${resourcePath(ctx, collection, id)}>; rel="latest-version"` };
}

/**
 * The `stale-write` problem: what the resource is now, since when, by whom, what the caller
 * believed, and (when the caller's version is still in history) the JSON Patch that turns the
 * caller's version into the current one.
 */
export async function staleWrite(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  head: Head | null,
  p: ParsedPreconditions,
  failed: 'if-match' | 'if-unmodified-since',
): Promise<ProblemError<'stale-write'>> {
  const current = live(head);
  const mine = failed === 'if-match' ? yourEtag(p) : null;
  const changes = current && mine ? await changesSince(ctx, collection.name, id, mine, current) : undefined;
  const weakMatch =
    current !== null &&
    p.ifMatch !== undefined &&
    !p.ifMatch.any &&
    p.ifMatch.tags.some((t) => t.weak && `"${t.opaque}"` === current.etag);
  const detail = weakMatch
    ? `Your If-Match names the current version of ${collection.name}/${id} as a weak tag (W/); If-Match compares strongly, so send the ETag exactly as you received it.`
    : !head
      ? `${collection.name}/${id} does not exist, so it cannot match ${mine ?? 'your precondition'}.`
      : head.deleted
        ? `${collection.name}/${id} was deleted at ${iso(head.updatedAt)}${by(head)}.`
        : failed === 'if-match'
          ? `${collection.name}/${id} changed since your version: it is now version ${head.version}, written at ${iso(head.updatedAt)}${by(head)}. Re-read it, re-apply your change and retry with the new ETag.`
          : `${collection.name}/${id} was modified after the date you gave: at ${iso(head.updatedAt)}${by(head)}. Re-read it and retry.`;
  return new ProblemError(
    'stale-write',
    detail,
    {
      status: collection.staleWriteStatus,
      currentEtag: current?.etag ?? null,
      current: current ? headRepresentation(current) : null,
      changedAt: head ? iso(head.updatedAt) : null,
      changedBy: head?.updatedBy ?? null,
      yourEtag: mine,
      ...(changes ? { changes } : {}),
    },
    latestLink(ctx, collection.name, id),
  );
}

async function changesSince(
  ctx: ResourceContext,
  collection: string,
  id: string,
  mine: string,
  current: Head,
) {
  const tag = parseEntityTag(mine);
  if (!tag || tag.weak) return undefined;
  const record = await ctx.store.versionByEtag(collection, id, mine);
  if (!record || record.doc === null) return undefined;
  return diffJson(versionRepresentation(id, record), headRepresentation(current));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function by(head: Head): string {
  return head.updatedBy ? ` by ${head.updatedBy}` : '';
}

/**
 * RFC 9110 13.2.2 for a write: a false If-Match or If-Unmodified-Since is a stale write (what changed,
 * when, by whom); If-None-Match: * on an existing resource is already-exists; a matching
 * If-None-Match list is precondition-failed.
 */
export async function checkWritePreconditions(
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
      { status: 412, existing, ...provenance(current) },
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
