import { getByPointer, mergeJson, parseEntityTag, type MergeConflict } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { Head, JsonObject, JsonValue, VersionRecord } from '../store/types.js';
import type { ResourceContext } from './context.js';
import { nextDocument, type Intent } from './intent.js';
import { headRepresentation } from './representation.js';
import { latestLink, staleWrite } from './stale.js';

/**
 * Applies an edit made against an older version (SPEC 3.7): the caller's change (base -> yours)
 * and everything written since (base -> current) are merged leaf by leaf. Disjoint changes give the
 * merged document; overlapping ones give 409 edit-conflict listing every conflicting pointer with
 * who changed it last and when. A base that has left history is a stale write. `readBase` finds the
 * base's version (a write that runs several rounds passes one that remembers it).
 */
export async function mergeOntoCurrent(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  intent: Intent,
  base: string,
  head: Head,
  readBase: (etag: string) => Promise<VersionRecord | null> = (etag) =>
    ctx.store.versionByEtag(collection.name, id, etag),
): Promise<JsonObject> {
  const record = await readBase(base);
  if (!record || record.doc === null || head.deleted) {
    throw await staleBase(ctx, collection, id, head, base);
  }
  const baseHead: Head = {
    ...head,
    version: record.version,
    etag: record.etag,
    deleted: false,
    doc: record.doc,
    createdAt: record.createdAt,
    updatedAt: record.at,
    updatedBy: record.by,
  };
  const yours = nextDocument(ctx, intent, baseHead, collection, id);
  const result = mergeJson(record.doc, yours, head.doc ?? {}, collection.merge);
  if (result.ok) return result.value as JsonObject;
  const since = await ctx.store.history(collection.name, id, {
    limit: head.version - record.version + 1,
    before: head.version + 1,
  });
  const conflicts = result.conflicts.map((c) => ({
    ...describeConflict(c),
    ...lastChange(c.pointer, since, record),
  }));
  throw new ProblemError(
    'edit-conflict',
    `Your edit of ${collection.name}/${id} overlaps ${conflicts.length === 1 ? 'a change' : `${conflicts.length} changes`} made since version ${record.version}: ${conflicts.map((c) => c.pointer || '(the whole document)').join(', ')}. Resolve ${conflicts.length === 1 ? 'it' : 'them'} and send the result with Truce-Base ${head.etag}.`,
    { conflicts, currentEtag: head.etag, current: headRepresentation(head) },
    latestLink(ctx, collection.name, id),
  );
}

/** The stale-write answer for a `Truce-Base` that cannot be merged from (gone from history, or the resource gone). */
export async function staleBase(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  head: Head | null,
  base: string,
): Promise<ProblemError> {
  return staleWrite(
    ctx,
    collection,
    id,
    head,
    { ifMatch: { any: false, tags: [parseEntityTag(base)!] } },
    'if-match',
  );
}

function describeConflict(c: MergeConflict): {
  pointer: string;
  base?: JsonValue;
  yours?: JsonValue;
  theirs?: JsonValue;
} {
  return {
    pointer: c.pointer,
    ...(c.base === undefined ? {} : { base: c.base }),
    ...(c.yours === undefined ? {} : { yours: c.yours }),
    ...(c.theirs === undefined ? {} : { theirs: c.theirs }),
  };
}

/**
 * Who last changed the value at `pointer` after the base: the newest version whose value there
 * differs from the version before it. `since` is newest first and reaches back to the base.
 */
function lastChange(
  pointer: string,
  since: readonly VersionRecord[],
  base: VersionRecord,
): { changedBy: string | null; changedAt: string | null } {
  const at = (r: VersionRecord) => JSON.stringify(r.doc === null ? null : lookup(r.doc, pointer));
  for (let i = 0; i < since.length - 1; i++) {
    const newer = since[i]!;
    const older = since[i + 1]!;
    if (older.version < base.version) break;
    if (at(newer) !== at(older)) return { changedBy: newer.by, changedAt: new Date(newer.at).toISOString() };
  }
  const newest = since[0];
  return newest
    ? { changedBy: newest.by, changedAt: new Date(newest.at).toISOString() }
    : { changedBy: null, changedAt: null };
}

function lookup(doc: JsonObject, pointer: string): JsonValue | undefined {
  try {
    const found = getByPointer(doc, pointer);
    return found.found ? found.value : undefined;
  } catch {
    return undefined;
  }
}
