import type { ParsedPreconditions } from '@truce/protocol';
import type { CollectionConfig, TruceConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { ChangeNotifier } from '../feed/notifier.js';
import type { FeedTiming } from '../feed/changes.js';
import type { CompiledCollection } from '../rules/compiled.js';
import type { Store } from '../store/types.js';
import { idProblem } from './ids.js';
import type { Intent } from './intent.js';

/** Everything a resource handler needs, built once per plugin registration. */
export interface ResourceContext {
  readonly config: TruceConfig;
  /** The store: the real one, or for an operation of an atomic batch, that batch's staging view. */
  readonly store: Store;
  /** Staging stores of the atomic batches now running, by the id their operations carry. */
  readonly staging: Map<string, Store>;
  /** URL prefix the plugin is mounted under ('' at the root). */
  readonly prefix: string;
  readonly compiled: ReadonlyMap<string, CompiledCollection>;
  /** Wakes change-feed streams after this process commits. */
  readonly notifier: ChangeNotifier;
  /** Open change-feed streams, aborted when the server closes. */
  readonly streams: Set<AbortController>;
  readonly feed: FeedTiming;
  /** Prefix of problem `type` URIs. */
  readonly typeBase: string;
  /** The time in epoch milliseconds; injectable so that tests never wait for time to pass. */
  readonly now: () => number;
}

/** The configured collection, or a 404 problem. */
export function collectionOf(ctx: ResourceContext, name: string): CollectionConfig {
  const collection = ctx.config.collections.get(name);
  if (!collection) throw new ProblemError('not-found', `There is no collection "${name}".`);
  return collection;
}

/** A URL id checked against the id rules, or a 400 problem. */
export function checkedId(id: string): string {
  // `/things/` is the collection with a trailing slash, not a resource with an empty id.
  if (id === '')
    throw new ProblemError('not-found', 'No resource here; the collection itself has no trailing slash.');
  const problem = idProblem(id);
  if (problem)
    throw new ProblemError('malformed-request', problem, { errors: [{ pointer: '', message: problem }] });
  return id;
}

/** Path of a resource, as used in Location, Link and `existing` members. */
export function resourcePath(ctx: ResourceContext, collection: string, id: string): string {
  return `${ctx.prefix}/${encodeURIComponent(collection)}/${encodeURIComponent(id)}`;
}

/** Request headers, lower-cased names, as Node.js delivers them. */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

/**
 * A value read from a request header at the HTTP edge. A malformed header is kept as its problem
 * rather than thrown at once: only the handlers that use the header refuse it ({@link need}), so a
 * GET is not refused for a bad `Lock-Token`, and a 404 still comes before a 400 about a header.
 */
export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: ProblemError };

/** The value of a {@link Parsed} header, or its problem thrown. */
export function need<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw parsed.problem;
  return parsed.value;
}

/**
 * One request to a resource route, parsed once at the HTTP edge (`http/request.ts`), independent of
 * the HTTP framework. Batch operations run through the same routes, so the same parser reads them.
 */
export interface OperationInput {
  readonly method: string;
  /** The raw headers, for what is not parsed below (the feed's `Accept`, the idempotency fingerprint). */
  readonly headers: HeaderBag;
  /** Parsed JSON body, or undefined when there was none. */
  readonly body: unknown;
  /** The body's media type without parameters, lower-cased; undefined without `Content-Type`. */
  readonly mediaType: string | undefined;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  /** Path of the request, the problem `instance`. */
  readonly instance: string;
  /** The path as the router reads it (each segment decoded and re-encoded): keys scope on this. */
  readonly route: string;
  /** The route's collection and id, as the router decoded them (unchecked), where it has them. */
  readonly collection: string | undefined;
  readonly id: string | undefined;
  /** Who is writing (SPEC 3.5): the actor header as UTF-8 text, trimmed, or null. */
  readonly actor: Parsed<string | null>;
  /** The four RFC 9110 conditional headers. */
  readonly preconditions: Parsed<ParsedPreconditions>;
  /** `Truce-Base` (SPEC 3.7): the strong ETag a PUT or PATCH was made against. */
  readonly base: Parsed<string | undefined>;
  /** `Lock-Token` (SPEC 3.9): the token of the lease the caller holds. */
  readonly lockToken: Parsed<string | undefined>;
  /** `Idempotency-Key` (SPEC 3.8), on unsafe methods only. */
  readonly idempotencyKey: Parsed<string | undefined>;
  /** What a PUT, PATCH or DELETE of `/{c}/{id}` asks for; undefined on other routes. */
  readonly intent: Parsed<Intent> | undefined;
}

/** What a handler answers; the plugin (or a batch) turns it into a response. */
export interface OperationResult {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

/** A header's value; repeated fields are joined with commas (RFC 9110 5.3). */
export function header(headers: HeaderBag, name: string): string | undefined {
  const raw = headers[name];
  return Array.isArray(raw) ? raw.join(', ') : raw;
}
