import type { CollectionConfig, TruceConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { ChangeNotifier } from '../feed/notifier.js';
import type { FeedTiming } from '../feed/changes.js';
import type { CompiledCollection } from '../rules/compiled.js';
import type { Store } from '../store/types.js';
import { idProblem } from './ids.js';

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

/** One request to a resource route, independent of the HTTP framework (batches build these too). */
export interface OperationInput {
  readonly method: string;
  readonly headers: HeaderBag;
  /** Parsed JSON body, or undefined when there was none. */
  readonly body: unknown;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  /** Path of the request, the problem `instance`. */
  readonly instance: string;
  /** The path as the router reads it (each segment decoded and re-encoded): keys scope on this. */
  readonly route: string;
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

/** Who is writing (SPEC 3.5): the actor header, else null. */
export function actorOf(ctx: ResourceContext, headers: HeaderBag): string | null {
  const raw = headers[ctx.config.actorHeader];
  if (Array.isArray(raw) && raw.length > 1) {
    throw new ProblemError(
      'malformed-request',
      `The ${ctx.config.actorHeaderName} header was sent more than once.`,
      {
        errors: [{ header: ctx.config.actorHeaderName, message: 'must be sent once' }],
      },
    );
  }
  const text = header(headers, ctx.config.actorHeader);
  if (text === undefined || text.trim() === '') return null;
  const value = headerText(text);
  if (value === undefined) {
    throw new ProblemError(
      'malformed-request',
      `The ${ctx.config.actorHeaderName} header is not UTF-8 text without control characters.`,
      {
        errors: [
          { header: ctx.config.actorHeaderName, message: 'must be UTF-8 text without control characters' },
        ],
      },
    );
  }
  if (value.length > 256) {
    throw new ProblemError(
      'malformed-request',
      `The ${ctx.config.actorHeader} header is longer than 256 characters.`,
      {
        errors: [{ pointer: '', message: `${ctx.config.actorHeader} is too long` }],
      },
    );
  }
  return value.trim();
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value as text. Node.js hands header bytes over as latin1 (one character per byte), so
 * UTF-8 text such as `José` arrives as `JosÃ©`; the bytes are decoded again as UTF-8 here. Undefined
 * when they are not UTF-8, or hold control characters (C0, DEL, C1), which no name should.
 */
export function headerText(latin1: string): string | undefined {
  const bytes = Buffer.from(latin1, 'latin1');
  // A character past U+00FF cannot have come from the wire: it is not a byte.
  if (bytes.toString('latin1') !== latin1) return undefined;
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return undefined;
  }
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return undefined;
  }
  return text;
}

/** A text as header bytes, the inverse of {@link headerText}: for requests made inside the server. */
export function headerBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
