/**
 * Conditional request evaluation, RFC 9110 section 13.2.2, for an origin server.
 */
import type { EntityTag, EntityTagCondition } from './etag.js';
import { parseEntityTag, parseEntityTagCondition, strongCompare, weakCompare } from './etag.js';
import { parseHttpDate } from './http-date.js';

/** The raw precondition header values of a request; `undefined` when the header is absent. */
export interface PreconditionHeaders {
  readonly ifMatch?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly ifUnmodifiedSince?: string | undefined;
}

/** Preconditions after parsing; a member is present only when its header was present and usable. */
export interface ParsedPreconditions {
  readonly ifMatch?: EntityTagCondition;
  readonly ifNoneMatch?: EntityTagCondition;
  readonly ifModifiedSince?: Date;
  readonly ifUnmodifiedSince?: Date;
}

/** A request header that could not be parsed; `header` is the field name as sent on the wire. */
export interface HeaderError {
  readonly header: string;
  readonly message: string;
}

/** What a precondition is evaluated against: the current representation's validators. */
export interface Representation {
  /** The current strong entity tag, formatted with its quotes (`"v42"`). */
  readonly etag: string;
  readonly lastModified: Date;
}

/**
 * The result of {@link evaluatePreconditions}: perform the method, answer 304 Not Modified, or
 * answer 412 Precondition Failed because of the named header.
 */
export type PreconditionOutcome =
  | { readonly result: 'proceed' }
  | { readonly result: 'not-modified' }
  | { readonly result: 'failed'; readonly failed: 'if-match' | 'if-unmodified-since' | 'if-none-match' };

/**
 * Parses the four precondition headers.
 *
 * A malformed `If-Match` or `If-None-Match` is an error (every one is reported), because guessing
 * what a client meant by a broken write precondition could overwrite data. An `If-Modified-Since`
 * or `If-Unmodified-Since` that is not a valid HTTP date is left out of the result, as RFC 9110
 * sections 13.1.3 and 13.1.4 require a recipient to ignore it.
 */
export function parsePreconditions(
  headers: PreconditionHeaders,
): { ok: true; value: ParsedPreconditions } | { ok: false; errors: HeaderError[] } {
  const errors: HeaderError[] = [];
  const value: {
    ifMatch?: EntityTagCondition;
    ifNoneMatch?: EntityTagCondition;
    ifModifiedSince?: Date;
    ifUnmodifiedSince?: Date;
  } = {};
  const tagList = (header: string, raw: string | undefined): EntityTagCondition | undefined => {
    if (raw === undefined) return undefined;
    const parsed = parseEntityTagCondition(raw);
    if (parsed !== null) return parsed;
    errors.push({ header, message: `${header} must be "*" or a list of quoted entity tags` });
    return undefined;
  };
  const ifMatch = tagList('If-Match', headers.ifMatch);
  const ifNoneMatch = tagList('If-None-Match', headers.ifNoneMatch);
  if (ifMatch !== undefined) value.ifMatch = ifMatch;
  if (ifNoneMatch !== undefined) value.ifNoneMatch = ifNoneMatch;
  const ims = headers.ifModifiedSince === undefined ? null : parseHttpDate(headers.ifModifiedSince);
  const ius = headers.ifUnmodifiedSince === undefined ? null : parseHttpDate(headers.ifUnmodifiedSince);
  if (ims !== null) value.ifModifiedSince = ims;
  if (ius !== null) value.ifUnmodifiedSince = ius;
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value };
}

/**
 * Whether the request carries a precondition that protects a write: `If-Match`, `If-None-Match`
 * or `If-Unmodified-Since`. `If-Modified-Since` does not count, as it only applies to GET/HEAD.
 */
export function hasWritePrecondition(p: ParsedPreconditions): boolean {
  return p.ifMatch !== undefined || p.ifNoneMatch !== undefined || p.ifUnmodifiedSince !== undefined;
}

/**
 * Evaluates preconditions in the order of RFC 9110 section 13.2.2.
 *
 * The caller decides whether to evaluate at all: section 13.2.1 says preconditions are ignored when
 * the response without them would be neither 2xx nor 412 (a PATCH to a missing resource is a
 * plain 404, a request the server cannot authorize is 403). The caller also keeps evaluation and the
 * write it guards one atomic step, and handles the section 13.2.2 exception of a state-changing
 * request that "has already succeeded" (a replay).
 *
 * @param method - the request method, case-sensitive as HTTP methods are (`GET`, not `get`).
 * @param current - the selected representation, or `null` when the resource has none.
 * @throws TypeError when `current.etag` is not a well-formed entity tag (a server bug).
 */
export function evaluatePreconditions(
  method: string,
  p: ParsedPreconditions,
  current: Representation | null,
): PreconditionOutcome {
  const currentTag = current === null ? null : parseCurrentTag(current.etag);
  const isGetOrHead = method === 'GET' || method === 'HEAD';

  // Step 1 (13.2.2): "When recipient is the origin server and If-Match is present, evaluate the
  // If-Match precondition: if true, continue to step 3; if false, respond 412 (Precondition
  // Failed) unless it can be determined that the state-changing request has already succeeded."
  if (p.ifMatch !== undefined) {
    if (!ifMatchHolds(p.ifMatch, currentTag)) return { result: 'failed', failed: 'if-match' };
  } else if (p.ifUnmodifiedSince !== undefined && current !== null) {
    // Step 2 (13.2.2): "When recipient is the origin server, If-Match is not present, and
    // If-Unmodified-Since is present, evaluate the If-Unmodified-Since precondition: if true,
    // continue to step 3; if false, respond 412 (Precondition Failed) unless [...] already
    // succeeded." Section 13.1.4 only defines the condition for a representation that has a
    // last modification date, so without a current representation the header is ignored.
    if (!(wholeSeconds(current.lastModified) <= p.ifUnmodifiedSince.getTime())) {
      return { result: 'failed', failed: 'if-unmodified-since' };
    }
  }

  // Step 3 (13.2.2): "When If-None-Match is present, evaluate the If-None-Match precondition: if
  // true, continue to step 5; if false for GET/HEAD, respond 304 (Not Modified); if false for
  // other methods, respond 412 (Precondition Failed)."
  if (p.ifNoneMatch !== undefined) {
    if (!ifNoneMatchHolds(p.ifNoneMatch, currentTag)) {
      return isGetOrHead ? { result: 'not-modified' } : { result: 'failed', failed: 'if-none-match' };
    }
  } else if (isGetOrHead && p.ifModifiedSince !== undefined && current !== null) {
    // Step 4 (13.2.2): "When the method is GET or HEAD, If-None-Match is not present, and
    // If-Modified-Since is present, evaluate the If-Modified-Since precondition: if true,
    // continue to step 5; if false, respond 304 (Not Modified)." Section 13.1.3: "false if the
    // selected representation's last modification date is earlier or equal to the date provided".
    if (wholeSeconds(current.lastModified) <= p.ifModifiedSince.getTime()) return { result: 'not-modified' };
  }

  // Step 5 (13.2.2): "Perform the requested method and respond according to its success or
  // failure."
  return { result: 'proceed' };
}

// Section 13.1.1: "*" is true when the origin server has a current representation; a list is true
// when any listed tag matches the current tag using the strong comparison (so weak tags never do).
function ifMatchHolds(condition: EntityTagCondition, current: EntityTag | null): boolean {
  if (current === null) return false;
  if (condition.any) return true;
  return condition.tags.some((tag) => strongCompare(tag, current));
}

// Section 13.1.2: "*" is false when a current representation exists; a list is false when any
// listed tag matches the current tag using the weak comparison.
function ifNoneMatchHolds(condition: EntityTagCondition, current: EntityTag | null): boolean {
  if (current === null) return true;
  if (condition.any) return false;
  return !condition.tags.some((tag) => weakCompare(tag, current));
}

// HTTP dates have whole-second resolution, while the stored timestamp keeps milliseconds; without
// flooring, a client echoing our own Last-Modified would see a resource "modified" 300 ms later.
function wholeSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000) * 1000;
}

function parseCurrentTag(etag: string): EntityTag {
  const tag = parseEntityTag(etag);
  if (tag === null) throw new TypeError(`current representation has a malformed ETag: ${etag}`);
  return tag;
}
