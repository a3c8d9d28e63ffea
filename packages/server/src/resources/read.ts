import { evaluatePreconditions } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import { InvalidCursorError, type JsonPrimitive } from '../store/types.js';
import {
  need,
  resourcePath,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from './context.js';
import { jsonStream, listPage } from './paging.js';
import { selected } from './preconditions.js';
import { headRepresentation, live, validatorHeaders } from './representation.js';

/** Representations may change at any time: caches must revalidate (and get a cheap 304). */
const REVALIDATE = { 'cache-control': 'no-cache' };

/** GET and HEAD on `/{c}/{id}`. */
export async function readItem(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  input: OperationInput,
): Promise<OperationResult> {
  const p = need(input.preconditions);
  const head = live(await ctx.store.get(collection.name, id));
  // RFC 9110 13.2.1: a 404 stays a 404 whatever the preconditions say.
  if (!head) throw new ProblemError('not-found', `${collection.name}/${id} does not exist.`);
  const validators = validatorHeaders(head.etag, head.updatedAt);
  const outcome = evaluatePreconditions(input.method, p, selected(head));
  if (outcome.result === 'not-modified') {
    // RFC 9110 15.4.5: a 304 carries the validators the 200 would have carried.
    return { status: 304, headers: { ...validators, ...REVALIDATE } };
  }
  if (outcome.result === 'failed') {
    throw new ProblemError(
      'precondition-failed',
      `${collection.name}/${id} does not match your ${outcome.failed === 'if-match' ? 'If-Match' : 'If-Unmodified-Since'}: it is at version ${head.version}.`,
      { currentEtag: head.etag },
      { link: `<${resourcePath(ctx, collection.name, id)}>; rel="latest-version"` },
    );
  }
  return { status: 200, headers: { ...validators, ...REVALIDATE }, body: headRepresentation(head) };
}

const LIST_PARAMS = new Set(['limit', 'cursor']);

/**
 * Bounds on the filters of one list request (docs/http-api.md): each field and each value adds to
 * the store's query, and past a few hundred terms SQLite refuses it as too large. Values count the
 * way they are written in the query string, whatever JSON types each may stand for.
 */
export const FILTER_LIMITS = { fields: 20, values: 100 } as const;

/** GET `/{c}`: one page of live resources, ordered by id, with equality filters; see {@link listPage}. */
export async function listItems(
  ctx: ResourceContext,
  collection: CollectionConfig,
  input: OperationInput,
): Promise<OperationResult> {
  const errors: { parameter: string; message: string }[] = [];
  const limitText = one(input.query['limit']);
  let limit = 50;
  if (limitText !== undefined) {
    limit = Number(limitText);
    if (!/^[0-9]+$/.test(limitText) || limit < 1 || limit > 1000) {
      errors.push({ parameter: 'limit', message: 'must be an integer from 1 to 1000' });
    }
  }
  const cursor = one(input.query['cursor']);
  const filters: Record<string, JsonPrimitive[]> = {};
  let fields = 0;
  let values = 0;
  for (const [name, raw] of Object.entries(input.query)) {
    if (LIST_PARAMS.has(name) || raw === undefined) continue;
    if (name === 'id' || name.startsWith('_') || name === '') {
      errors.push({ parameter: name, message: 'filters apply to user fields only' });
      continue;
    }
    const texts = Array.isArray(raw) ? raw : [raw];
    fields += 1;
    values += texts.length;
    // Only the first parameter past a bound is named: the rest are past it too.
    if (fields === FILTER_LIMITS.fields + 1) {
      errors.push({ parameter: name, message: `a list takes at most ${FILTER_LIMITS.fields} filter fields` });
    } else if (values > FILTER_LIMITS.values && values - texts.length <= FILTER_LIMITS.values) {
      errors.push({
        parameter: name,
        message: `a list takes at most ${FILTER_LIMITS.values} filter values in all`,
      });
    }
    filters[name] = texts.flatMap(candidates);
  }
  if (errors.length > 0) {
    throw new ProblemError(
      'malformed-request',
      `Bad query parameter: ${errors.map((e) => e.parameter).join(', ')}.`,
      {
        errors,
      },
    );
  }
  let page;
  try {
    page = await listPage(ctx, collection, { limit, cursor, filters });
  } catch (error) {
    if (error instanceof InvalidCursorError) {
      throw new ProblemError('malformed-request', 'The cursor is not one this server issued.', {
        errors: [{ parameter: 'cursor', message: 'unknown cursor' }],
      });
    }
    throw error;
  }
  const headers: Record<string, string> = { ...REVALIDATE };
  if (page.next !== null) {
    const params = new URLSearchParams();
    for (const [name, raw] of Object.entries(input.query)) {
      if (name === 'cursor' || raw === undefined) continue;
      for (const v of Array.isArray(raw) ? raw : [raw]) params.append(name, v);
    }
    params.set('cursor', page.next);
    headers['link'] =
      `<${ctx.prefix}/${encodeURIComponent(collection.name)}?${params.toString()}>; rel="next"`;
  }
  const tail = `],"next":${JSON.stringify(page.next)}}`;
  return { status: 200, headers, body: jsonStream('{"items":[', page.texts, tail) };
}

/**
 * A query string carries text only, so `?stock=5` matches the number 5 and the string "5", and
 * `?active=true` matches true and "true"; JSON types never mix beyond that (the store compares strictly).
 */
function candidates(value: string): JsonPrimitive[] {
  const out: JsonPrimitive[] = [value];
  if (value === 'true') out.push(true);
  else if (value === 'false') out.push(false);
  else if (value === 'null') out.push(null);
  else if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(value)) out.push(Number(value));
  return out;
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}
