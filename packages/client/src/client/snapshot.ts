/**
 * Representations as the client hands them out: the document with the strong ETag it came with.
 */
import { isJsonObject, parseEntityTag, type JsonObject } from '@truce/protocol';
import { SERVER_MEMBERS, type Resource } from '../types/documents.js';

/** A resource as read or written: its representation and its strong ETag. */
export interface Snapshot<T> {
  /** The representation: the document's fields plus `id` and the server's `_` members. */
  readonly data: Resource<T>;
  /**
   * The strong ETag that came with it, exactly as sent (quotes included), for `If-Match` or
   * `Truce-Base`; `null` when the server sent none or only a weak one (weak tags never match a
   * write's `If-Match`, RFC 9110 section 13.1.1).
   */
  readonly etag: string | null;
}

/** The ETag header if it is one strong entity tag, else null. */
export function strongEtag(value: string | null): string | null {
  if (value === null) return null;
  const tag = parseEntityTag(value.trim());
  return tag !== null && !tag.weak ? value.trim() : null;
}

/** The fields a client may send: the representation without the server-owned `_` members. */
export function fieldsOf(doc: object): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!SERVER_MEMBERS.includes(key)) Object.defineProperty(out, key, descriptor(value));
  }
  return out;
}

/** The user's own fields: {@link fieldsOf} without `id` either, for comparing content. */
export function contentOf(doc: object): JsonObject {
  const out = fieldsOf(doc);
  delete out['id'];
  return out;
}

/** A body as JSON object, or a TypeError naming what it was. */
export function requireObject(value: unknown, what: string): JsonObject {
  if (!isJsonObject(value)) throw new TypeError(`${what} must be a JSON object`);
  return value;
}

function descriptor(value: unknown): PropertyDescriptor {
  return { value, enumerable: true, writable: true, configurable: true };
}
