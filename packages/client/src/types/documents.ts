/**
 * The shapes of resources as the server sends them (SPEC 3.1), and the types derived from a
 * collection's document type: merge patches and the pointers `increment` accepts.
 */
import type { JsonObject, JsonValue } from '@truce/protocol';

/** The members the server owns and adds to every representation (SPEC 3.1); they are read-only. */
export interface ServerMembers {
  readonly id: string;
  readonly _version: number;
  readonly _createdAt: string;
  readonly _updatedAt: string;
  readonly _updatedBy: string | null;
}

/** Names of the server-owned members, which the SDK leaves out of the bodies it sends. */
export const SERVER_MEMBERS: readonly string[] = ['_version', '_createdAt', '_updatedAt', '_updatedBy'];

/** A collection's document type as read: its own fields plus {@link ServerMembers}. */
export type Resource<T> = T & ServerMembers;

/**
 * The document type of every collection, by name: `{ documents: { title: string } }`. Declared by
 * the caller (`createClient<MyCollections>(...)`) or inferred from JSON Schemas (`collections`).
 */
export type CollectionTypes = { [name: string]: object };

/** What a client knows when nobody told it the collections: any name, any JSON object. */
export type AnyCollections = { [name: string]: JsonObject };

/** The collection names of `C`, as strings. */
export type CollectionName<C> = Extract<keyof C, string>;

/** A document of collection `K` as sent in a create or a replace; `id` may be chosen by the client. */
export type Body<T> = T & { id?: string };

/**
 * An RFC 7396 merge patch of `T`: any subset of its members, `null` to remove one, objects patched
 * member by member, arrays replaced whole.
 */
export type MergePatch<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends readonly unknown[]
    ? T[K] | null
    : NonNullable<T[K]> extends object
      ? MergePatch<NonNullable<T[K]>> | null
      : T[K] | null;
};

/** A JSON Patch (RFC 6902) operation, as `patch` sends it with `application/json-patch+json`. */
export type { JsonPatchOperation } from '@truce/protocol';

type Depth = [unknown, unknown, unknown, unknown];

/**
 * The JSON Pointers of the numeric members of `T`, down to four levels of nested objects:
 * `'/stock' | '/totals/net'`. A document type with an index signature (untyped collections)
 * accepts any pointer.
 */
export type NumberPointer<T, D extends unknown[] = []> = D['length'] extends Depth['length']
  ? never
  : string extends keyof T
    ? `/${string}`
    : {
        [K in Extract<keyof T, string>]-?: NonNullable<T[K]> extends number
          ? `/${K}`
          : NonNullable<T[K]> extends readonly unknown[]
            ? never
            : NonNullable<T[K]> extends object
              ? `/${K}${NumberPointer<NonNullable<T[K]>, [...D, unknown]>}`
              : never;
      }[Extract<keyof T, string>];

/** Any JSON value, re-exported for resolvers and custom merges. */
export type { JsonObject, JsonValue };
