/**
 * `@truce/client`: a fetch-based SDK for Truce servers (SPEC 4) that resolves conflicts for its
 * caller. It remembers the ETag of what it read and sends `If-Match`; `update` re-fetches, merges
 * three ways and re-applies (with `Truce-Base` where the server merges); transient failures are
 * retried with full jitter, `Retry-After` and an Idempotency-Key kept across attempts; errors are
 * `TruceProblemError`s typed by problem code. ESM, no Node.js-only imports: it runs in browsers,
 * Node.js and other fetch runtimes.
 *
 * @packageDocumentation
 */
export { createClient, type AnyChange, type Client } from './client/create-client.js';
export type {
  ClientOptions,
  ConflictOptions,
  RequestOptions,
  UpdateMode,
  WriteOptions,
} from './client/options.js';
export type { Snapshot } from './client/snapshot.js';
export type { GetOptions, ListOptions, Page } from './client/read.js';
export type { ReplaceOptions } from './client/write.js';
export type { Lease, LockOptions } from './client/actions.js';
export type { TurnContent, TurnOptions, TurnResult } from './client/turn.js';
export type { BatchOperation, BatchOptions, BatchResult } from './client/batch.js';
export type { Mutator, UpdateOptions, UpdateResult } from './update/update.js';
export type { Conflict, ConflictContext, Resolution, ResolveStrategy, Resolver } from './update/resolve.js';
export type { Change, ChangesOptions } from './feed/changes.js';
export type { HeaderSource } from './http/transport.js';
export type { Timers } from './http/timing.js';

export { isProblem, TruceProblemError, type ProblemOf } from './errors/problem-error.js';
export { isConflictError, TruceConflictError, type ConflictEndReason } from './errors/conflict-error.js';

export {
  DEFAULT_CONFLICT_POLICY,
  DEFAULT_RETRY,
  fullJitter,
  type ConflictPolicy,
  type RetryPolicy,
} from './retry/policy.js';
export { retryAfterMs } from './retry/retry-after.js';

export type {
  AnyCollections,
  Body,
  CollectionName,
  CollectionTypes,
  JsonObject,
  JsonPatchOperation,
  JsonValue,
  MergePatch,
  NumberPointer,
  Resource,
  ServerMembers,
} from './types/documents.js';
export type { CollectionOptions, CollectionsOf, FromSchema } from './types/schema.js';
