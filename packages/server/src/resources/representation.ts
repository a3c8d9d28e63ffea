import { formatHttpDate } from '@truce/protocol';
import type { Head, JsonObject, VersionRecord } from '../store/types.js';

/** Members the server owns; clients may echo them back but never set them. */
export const META_MEMBERS = ['_version', '_createdAt', '_updatedAt', '_updatedBy'] as const;

/**
 * The JSON a client sees for a resource (SPEC 3.1): `id` first, the user fields, then the read-only
 * `_` members.
 */
export function representation(id: string, doc: JsonObject, meta: Meta): JsonObject {
  return {
    id,
    ...doc,
    _version: meta.version,
    _createdAt: new Date(meta.createdAt).toISOString(),
    _updatedAt: new Date(meta.updatedAt).toISOString(),
    _updatedBy: meta.updatedBy,
  };
}

interface Meta {
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly updatedBy: string | null;
}

/** Representation of a live head (the caller checked `deleted` is false). */
export function headRepresentation(head: Head): JsonObject {
  return representation(head.id, head.doc ?? {}, head);
}

/** Representation of a past version; a delete shows as a tombstone. */
export function versionRepresentation(id: string, record: VersionRecord): JsonObject {
  if (record.doc === null) {
    return {
      id,
      _version: record.version,
      _deleted: true,
      _updatedAt: new Date(record.at).toISOString(),
      _updatedBy: record.by,
    };
  }
  return representation(id, record.doc, {
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.at,
    updatedBy: record.by,
  });
}

/** Validator headers of a representation (RFC 9110 8.8). */
export function validatorHeaders(etag: string, updatedAt: number): Record<string, string> {
  return { etag, 'last-modified': formatHttpDate(new Date(updatedAt)) };
}

/** A live head, or null for absent and deleted resources. */
export function live(head: Head | null): Head | null {
  return head !== null && !head.deleted ? head : null;
}

/**
 * When the state in the way was written, and by whom (scenario 18); nulls for a state nobody wrote.
 */
export function provenance(head: Head | null): { changedAt: string | null; changedBy: string | null } {
  return head
    ? { changedAt: new Date(head.updatedAt).toISOString(), changedBy: head.updatedBy }
    : { changedAt: null, changedBy: null };
}
