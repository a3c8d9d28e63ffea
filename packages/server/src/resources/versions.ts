import type { CollectionConfig } from '../config/types.js';
import { evaluatePreconditions } from '@truce/protocol';
import { ProblemError } from '../shared/problem-error.js';
import { need, type OperationInput, type OperationResult, type ResourceContext } from './context.js';
import { validatorHeaders, versionRepresentation } from './representation.js';

/** GET `/{c}/{id}/_versions`: history newest first, paged by `?before=` (a version number). */
export async function listVersions(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  input: OperationInput,
): Promise<OperationResult> {
  const errors: { parameter: string; message: string }[] = [];
  const limitText = input.query['limit'];
  const beforeText = input.query['before'];
  const limit = typeof limitText === 'string' ? Number(limitText) : 50;
  const before = typeof beforeText === 'string' ? Number(beforeText) : undefined;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
    errors.push({ parameter: 'limit', message: 'must be an integer from 1 to 1000' });
  }
  if (before !== undefined && (!Number.isSafeInteger(before) || before < 1)) {
    errors.push({ parameter: 'before', message: 'must be a positive integer (a version number)' });
  }
  if (errors.length > 0) throw new ProblemError('malformed-request', 'Bad query parameter.', { errors });

  const head = await ctx.store.get(collection.name, id);
  if (!head) throw new ProblemError('not-found', `${collection.name}/${id} has never existed.`);
  const records = await ctx.store.history(collection.name, id, { limit: limit + 1, before });
  const page = records.slice(0, limit);
  const items = page.map((r) => ({
    version: r.version,
    etag: r.etag,
    op: r.op,
    at: new Date(r.at).toISOString(),
    by: r.by,
  }));
  const next = records.length > limit ? String(page[page.length - 1]!.version) : null;
  return { status: 200, headers: {}, body: { items, next } };
}

/** GET `/{c}/{id}/_versions/{v}`: the representation as it was at version v. */
export async function readVersion(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  versionText: string,
  input: OperationInput,
): Promise<OperationResult> {
  const p = need(input.preconditions);
  const version = /^[1-9][0-9]{0,15}$/.test(versionText) ? Number(versionText) : NaN;
  const record = Number.isSafeInteger(version) ? await ctx.store.version(collection.name, id, version) : null;
  if (!record) {
    throw new ProblemError(
      'not-found',
      `${collection.name}/${id} has no version ${versionText} in its history (history keeps the last ${collection.historyKeep}).`,
    );
  }
  const headers = {
    ...validatorHeaders(record.etag, record.at),
    'cache-control': 'max-age=31536000, immutable',
  };
  // A past version never changes, so the usual conditional GET applies to it as to any resource.
  const outcome = evaluatePreconditions(input.method, p, {
    etag: record.etag,
    lastModified: new Date(record.at),
  });
  if (outcome.result === 'not-modified') return { status: 304, headers };
  if (outcome.result === 'failed') {
    throw new ProblemError(
      'precondition-failed',
      `Version ${version} of ${collection.name}/${id} does not match your precondition.`,
      {
        currentEtag: record.etag,
      },
    );
  }
  return { status: 200, headers, body: versionRepresentation(id, record) };
}
