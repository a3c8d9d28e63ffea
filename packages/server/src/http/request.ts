import {
  parseEntityTag,
  parseIdempotencyKey,
  parsePreconditions,
  type ParsedPreconditions,
} from '@truce/protocol';
import type { TruceConfig } from '../config/types.js';
import { header, type HeaderBag, type OperationInput, type Parsed } from '../resources/context.js';
import { readIntent, type ItemWrite } from '../resources/intent.js';
import { mediaTypeOf } from '../shared/media.js';
import { isProblemError, ProblemError } from '../shared/problem-error.js';
import { routeOf } from './path.js';

/*
 * The HTTP edge: every request to a Truce route, and every operation of a batch (which runs through
 * the same routes), is read here once into an OperationInput. Handlers in resources/ read only
 * that value, never a header.
 */

/** A request as the router delivered it. */
export interface RawRequest {
  readonly method: string;
  /** Lower-cased names; the actor header as an array when it was sent on several lines. */
  readonly headers: HeaderBag;
  readonly body: unknown;
  readonly query: OperationInput['query'];
  /** The path without the query, as sent. */
  readonly path: string;
  /** The route's parameters, decoded by the router. */
  readonly params: Readonly<Record<string, string>>;
  /** The route's pattern (`/:collection/:id`), which says whether a body is a resource write. */
  readonly pattern: string;
}

/** Methods that may carry an Idempotency-Key (SPEC 3.8). */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The writes of `/{c}/{id}`, by method. */
const ITEM_WRITES: Readonly<Record<string, ItemWrite>> = { PUT: 'replace', PATCH: 'patch', DELETE: 'delete' };

/** Parses a request's path, headers and (for resource writes) body into the value handlers use. */
export function parseRequest(config: TruceConfig, raw: RawRequest): OperationInput {
  const { method, headers, body } = raw;
  const mediaType = mediaTypeOf(header(headers, 'content-type'));
  const id = raw.params['id'];
  const write = raw.pattern === '/:collection/:id' ? ITEM_WRITES[method] : undefined;
  return {
    method,
    headers,
    body,
    mediaType,
    query: raw.query,
    instance: raw.path,
    route: routeOf(raw.path),
    collection: raw.params['collection'],
    id,
    actor: attempt(() => readActor(config, headers)),
    preconditions: attempt(() => readPreconditions(headers)),
    base: attempt(() => readBase(headers, method)),
    lockToken: attempt(() => readLockToken(headers)),
    idempotencyKey: attempt(() =>
      UNSAFE.has(method) ? readIdempotencyKey(header(headers, 'idempotency-key')) : undefined,
    ),
    intent:
      write === undefined || id === undefined
        ? undefined
        : attempt(() => readIntent(write, id, { method, mediaType, body })),
  };
}

/** A parse whose problem is kept for the handler that needs the value. */
function attempt<T>(parse: () => T): Parsed<T> {
  try {
    return { ok: true, value: parse() };
  } catch (error) {
    if (!isProblemError(error)) throw error;
    return { ok: false, problem: error };
  }
}

/** Who is writing (SPEC 3.5): the actor header, else null. */
function readActor(config: TruceConfig, headers: HeaderBag): string | null {
  const raw = headers[config.actorHeader];
  if (Array.isArray(raw) && raw.length > 1) {
    throw new ProblemError(
      'malformed-request',
      `The ${config.actorHeaderName} header was sent more than once.`,
      {
        errors: [{ header: config.actorHeaderName, message: 'must be sent once' }],
      },
    );
  }
  const text = header(headers, config.actorHeader);
  if (text === undefined || text.trim() === '') return null;
  const value = headerText(text);
  if (value === undefined) {
    throw new ProblemError(
      'malformed-request',
      `The ${config.actorHeaderName} header is not UTF-8 text without control characters.`,
      {
        errors: [
          { header: config.actorHeaderName, message: 'must be UTF-8 text without control characters' },
        ],
      },
    );
  }
  if (value.length > 256) {
    throw new ProblemError(
      'malformed-request',
      `The ${config.actorHeader} header is longer than 256 characters.`,
      {
        errors: [{ pointer: '', message: `${config.actorHeader} is too long` }],
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

/** The four RFC 9110 conditional headers; malformed entity-tag lists are a 400 problem. */
function readPreconditions(h: HeaderBag): ParsedPreconditions {
  const parsed = parsePreconditions({
    ifMatch: header(h, 'if-match'),
    ifNoneMatch: header(h, 'if-none-match'),
    ifModifiedSince: header(h, 'if-modified-since'),
    ifUnmodifiedSince: header(h, 'if-unmodified-since'),
  });
  if (!parsed.ok) {
    const names = parsed.errors.map((e) => e.header).join(', ');
    throw new ProblemError('malformed-request', `Malformed conditional header: ${names}.`, {
      errors: parsed.errors.map((e) => ({ pointer: '', header: e.header, message: e.message })),
    });
  }
  return parsed.value;
}

/**
 * The `Truce-Base` header (SPEC 3.7): the strong ETag an edit was made against. It asks for a
 * merge, which only a PUT or PATCH can have; If-Match asks for the opposite (no merge), so the two
 * together are a contradiction.
 */
function readBase(headers: HeaderBag, method: string): string | undefined {
  const value = header(headers, 'truce-base');
  if (value === undefined) return undefined;
  if (method !== 'PUT' && method !== 'PATCH') {
    throw new ProblemError(
      'malformed-request',
      'Truce-Base applies to PUT and PATCH only; use If-Match here.',
      {
        errors: [{ header: 'Truce-Base', message: 'only on PUT and PATCH' }],
      },
    );
  }
  if (header(headers, 'if-match') !== undefined) {
    throw new ProblemError(
      'malformed-request',
      'Send either If-Match (no merging) or Truce-Base (merge with what changed since), not both.',
      { errors: [{ header: 'Truce-Base', message: 'cannot be combined with If-Match' }] },
    );
  }
  const tag = parseEntityTag(value.trim());
  if (!tag || tag.weak) {
    throw new ProblemError(
      'malformed-request',
      'Truce-Base must be one strong entity tag, as the ETag header gave it.',
      {
        errors: [{ header: 'Truce-Base', message: 'must be a strong entity tag like "3-abc"' }],
      },
    );
  }
  return value.trim();
}

/**
 * The `Lock-Token` request header: the token a lease was granted with, or undefined when absent.
 * The RFC 4918 form `<token>` (a Coded-URL, as WebDAV clients send it) is accepted too.
 */
function readLockToken(headers: HeaderBag): string | undefined {
  const raw = header(headers, 'lock-token');
  if (raw === undefined) return undefined;
  const value = raw.trim().replace(/^<(.*)>$/, '$1');
  // Visible ASCII without commas: a repeated header (joined with commas) is not one token.
  if (!/^[\x21-\x2b\x2d-\x7e]{1,256}$/.test(value)) {
    throw new ProblemError('malformed-request', 'Lock-Token must be the token your lease was granted with.', {
      errors: [{ header: 'Lock-Token', message: 'must be one lease token (1 to 256 visible characters)' }],
    });
  }
  return value;
}

/** The `Idempotency-Key` header (IETF httpapi draft), or undefined when absent. */
function readIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const parsed = parseIdempotencyKey(value);
  if (!parsed.ok) {
    throw new ProblemError('malformed-request', parsed.message, {
      errors: [{ header: 'Idempotency-Key', message: parsed.message }],
    });
  }
  return parsed.key;
}
