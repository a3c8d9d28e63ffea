/**
 * `createClient`: the SDK's one entry point (SPEC 4), and the typed surface of a client.
 */
import type { JsonObject, JsonPatchOperation } from '@truce/protocol';
import { followChanges, type Change, type ChangesOptions } from '../feed/changes.js';
import type {
  AnyCollections,
  Body,
  CollectionName,
  CollectionTypes,
  MergePatch,
  NumberPointer,
  Resource,
} from '../types/documents.js';
import type { CollectionOptions, CollectionsOf } from '../types/schema.js';
import { runUpdate, type Mutator, type UpdateOptions, type UpdateResult } from '../update/update.js';
import {
  incrementResource,
  lockResource,
  transitionResource,
  unlockResource,
  type Lease,
  type LockOptions,
} from './actions.js';
import { sendBatch, type BatchOperation, type BatchOptions, type BatchResult } from './batch.js';
import { contextOf, operation, resourcePath } from './context.js';
import type { ClientOptions, RequestOptions, WriteOptions } from './options.js';
import { getResource, listEvery, listPage, type GetOptions, type ListOptions, type Page } from './read.js';
import type { Snapshot } from './snapshot.js';
import { addTurn, type TurnContent, type TurnOptions, type TurnResult } from './turn.js';
import {
  createResource,
  deleteResource,
  patchResource,
  replaceResource,
  type ReplaceOptions,
} from './write.js';

/** A change of any collection of `C`, discriminated by `collection`. */
export type AnyChange<C extends CollectionTypes> = {
  [K in CollectionName<C>]: Change<C[K], K>;
}[CollectionName<C>];

/**
 * A Truce client. Every method takes the collection's name first; with collection types (declared,
 * or inferred from schemas) documents, patches and pointers are typed per collection.
 */
export interface Client<C extends CollectionTypes = AnyCollections> {
  /** Reads a resource; a resource seen before is read conditionally and answered from memory on 304. */
  get<K extends CollectionName<C>>(collection: K, id: string, options?: GetOptions): Promise<Snapshot<C[K]>>;
  /** One page of a collection, with equality filters. */
  list<K extends CollectionName<C>>(
    collection: K,
    options?: ListOptions<C[K]>,
  ): Promise<Page<Resource<C[K]>>>;
  /** Every item of a collection, page after page. */
  listAll<K extends CollectionName<C>>(
    collection: K,
    options?: ListOptions<C[K]>,
  ): AsyncGenerator<Resource<C[K]>, void, undefined>;
  /** Creates a resource (POST); an `id` in the body chooses it. Safe to retry: an Idempotency-Key is sent. */
  create<K extends CollectionName<C>>(
    collection: K,
    body: Body<C[K]>,
    options?: WriteOptions,
  ): Promise<Snapshot<C[K]>>;
  /** Replaces a resource (PUT), with `If-Match` of the version this client last saw. */
  replace<K extends CollectionName<C>>(
    collection: K,
    id: string,
    body: C[K],
    options?: ReplaceOptions,
  ): Promise<Snapshot<C[K]>>;
  /** Patches a resource: a merge patch (object) or a JSON Patch (array), with `If-Match` as `replace`. */
  patch<K extends CollectionName<C>>(
    collection: K,
    id: string,
    patch: MergePatch<C[K]> | readonly JsonPatchOperation[],
    options?: WriteOptions,
  ): Promise<Snapshot<C[K]>>;
  /**
   * Read-modify-write that survives concurrent writers: runs `mutator` on the version last seen,
   * writes the result conditioned on it, and on a conflict merges three ways with the current
   * version, asking `resolve` about overlapping changes (see {@link UpdateOptions}).
   */
  update<K extends CollectionName<C>>(
    collection: K,
    id: string,
    mutator: Mutator<C[K]>,
    options?: UpdateOptions<C[K]>,
  ): Promise<UpdateResult<C[K]>>;
  /** Deletes a resource, with `If-Match` as `replace`. */
  delete<K extends CollectionName<C>>(collection: K, id: string, options?: WriteOptions): Promise<void>;
  /** Runs a state transition, with an optional merge patch applied in the same write. */
  transition<K extends CollectionName<C>>(
    collection: K,
    id: string,
    name: string,
    patch?: MergePatch<C[K]>,
    options?: WriteOptions,
  ): Promise<Snapshot<C[K]>>;
  /** Adds `by` to the number at `pointer`, atomically and within the schema's bounds. */
  increment<K extends CollectionName<C>>(
    collection: K,
    id: string,
    pointer: NumberPointer<C[K]>,
    by: number,
    options?: WriteOptions,
  ): Promise<Snapshot<C[K]>>;
  /** Takes (or renews) a lease; until `unlock`, this client's writes to the resource carry its token. */
  lock<K extends CollectionName<C>>(collection: K, id: string, options?: LockOptions): Promise<Lease>;
  /** Releases the lease this client holds on the resource. */
  unlock<K extends CollectionName<C>>(
    collection: K,
    id: string,
    options?: RequestOptions & { readonly token?: string },
  ): Promise<void>;
  /** Several operations in one request, all or nothing unless `atomic: false`. */
  batch(operations: readonly BatchOperation[], options?: BatchOptions): Promise<BatchResult[]>;
  /** The change feed of one collection, resumed after dropped connections. */
  changes<K extends CollectionName<C>>(
    collection: K,
    options?: ChangesOptions,
  ): AsyncGenerator<Change<C[K], K>, void, undefined>;
  /** The change feed of every collection. */
  changes(options?: ChangesOptions): AsyncGenerator<AnyChange<C>, void, undefined>;
  /** The ETag this client last saw for a resource, if it remembers one. */
  etagOf<K extends CollectionName<C>>(collection: K, id: string): string | undefined;
  /**
   * Adds a turn to a conversation of a gateway AI route (the client's `baseUrl` is the route),
   * continuing the version last read; on `turn-conflict` it re-reads and re-runs the turn.
   */
  turn(conversation: string, content: TurnContent, options?: TurnOptions): Promise<TurnResult>;
  /** Forgets what this client saw of a resource (or of everything), and the leases it holds there. */
  forget<K extends CollectionName<C>>(collection?: K, id?: string): void;
}

/**
 * Creates a client. Collection types come from JSON Schemas given in `collections` (inferred), or
 * from a type argument: `createClient<{ documents: Doc }>({ baseUrl })`.
 */
export function createClient<
  const O extends ClientOptions & { readonly collections: Record<string, CollectionOptions> },
>(options: O): Client<CollectionsOf<O['collections']>>;
export function createClient<C extends CollectionTypes = AnyCollections>(options: ClientOptions): Client<C>;
export function createClient(options: ClientOptions): unknown {
  const ctx = contextOf(options);
  const client: Client<AnyCollections> = {
    get: (c, id, o) => getResource(ctx, c, id, o),
    list: (c, o) => listPage<Resource<JsonObject>>(ctx, c, o as ListOptions<Resource<JsonObject>>),
    listAll: (c, o) => listEvery<Resource<JsonObject>>(ctx, c, o as ListOptions<Resource<JsonObject>>),
    create: (c, body, o) => createResource(ctx, c, body, o),
    replace: (c, id, body, o) => replaceResource(ctx, c, id, body, o),
    patch: (c, id, p, o) => patchResource(ctx, c, id, p as JsonObject | readonly JsonPatchOperation[], o),
    update: (c, id, mutator, o) => operation(ctx, o, (scope) => runUpdate(ctx, scope, c, id, mutator, o)),
    delete: (c, id, o) => deleteResource(ctx, c, id, o),
    transition: (c, id, name, p, o) => transitionResource(ctx, c, id, name, p as JsonObject | undefined, o),
    increment: (c, id, pointer, by, o) => incrementResource(ctx, c, id, pointer, by, o),
    lock: (c, id, o) => lockResource(ctx, c, id, o),
    unlock: (c, id, o) => unlockResource(ctx, c, id, o),
    batch: (ops, o) => sendBatch(ctx, ops, o),
    changes: ((first?: string | ChangesOptions, second?: ChangesOptions) =>
      typeof first === 'string'
        ? followChanges(ctx, first, second)
        : followChanges(ctx, undefined, first)) as Client<AnyCollections>['changes'],
    etagOf: (c, id) => ctx.cache.get(resourcePath(c, id))?.etag,
    turn: (id, content, o) => addTurn(ctx, id, content, o),
    forget: (c, id) => {
      if (c === undefined) {
        ctx.cache.clear();
        ctx.leases.clear();
      } else if (id !== undefined) {
        ctx.cache.delete(resourcePath(c, id));
        ctx.leases.delete(resourcePath(c, id));
      }
    },
  };
  return client;
}
