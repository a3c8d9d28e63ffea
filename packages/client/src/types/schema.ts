/**
 * Document types inferred from JSON Schemas at compile time, so that a client given the
 * collections' schemas (the `collections` of truce.yaml) types every call without a hand-written
 * interface. Covers what collection schemas use: `type` (one or a list), `properties` and
 * `required`, `items`, `enum`, `const`, `anyOf`/`oneOf`, and `additionalProperties` on objects
 * without `properties`. Anything else is `unknown`, never a wrong type.
 */
import type { JsonObject, JsonValue } from '@truce/protocol';

/** The TypeScript type of values valid under the JSON Schema `S`. */
export type FromSchema<S> = S extends { readonly const: infer V }
  ? V
  : S extends { readonly enum: readonly (infer V)[] }
    ? V
    : S extends { readonly anyOf: readonly (infer U)[] }
      ? FromSchema<U>
      : S extends { readonly oneOf: readonly (infer U)[] }
        ? FromSchema<U>
        : S extends { readonly type: readonly (infer T)[] }
          ? OfType<T, S>
          : S extends { readonly type: infer T }
            ? OfType<T, S>
            : S extends { readonly properties: object }
              ? ObjectOf<S>
              : unknown;

type OfType<T, S> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : T extends 'array'
          ? S extends { readonly items: infer I }
            ? FromSchema<I>[]
            : JsonValue[]
          : T extends 'object'
            ? ObjectOf<S>
            : unknown;

type Required<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ObjectOf<S> = S extends { readonly properties: infer P }
  ? Simplify<
      { -readonly [K in keyof P as K extends Required<S> ? K : never]: FromSchema<P[K]> } & {
        -readonly [K in keyof P as K extends Required<S> ? never : K]?: FromSchema<P[K]>;
      }
    >
  : S extends { readonly additionalProperties: infer A }
    ? A extends false
      ? Record<string, never>
      : A extends object
        ? { [key: string]: FromSchema<A> }
        : JsonObject
    : JsonObject;

/**
 * One collection as the client may be told about it: the same members as in truce.yaml. `schema`
 * types its documents; `merge` makes client-side merges match the server's (SPEC 3.7).
 */
export interface CollectionOptions {
  readonly schema?: object;
  readonly merge?: {
    readonly arrays?: { readonly [pointer: string]: string | null };
    readonly text?: readonly string[];
  };
}

type ObjectOrAny<T> = T extends object ? T : JsonObject;

/** The document types of a `collections` option: inferred from each schema, any object without one. */
export type CollectionsOf<M> = {
  -readonly [K in keyof M]: M[K] extends { readonly schema: infer S }
    ? ObjectOrAny<FromSchema<S>>
    : JsonObject;
};
