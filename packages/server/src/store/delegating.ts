import type {
  ChangeRecord,
  CommitResult,
  Head,
  IdempotencyClaim,
  IdempotencyClaimRequest,
  IdempotencyCompletion,
  IdempotentCommit,
  IdempotentCommitResult,
  IndexEntries,
  JsonObject,
  LeaseRequest,
  LeaseResult,
  ListOptions,
  ListPage,
  ReindexResult,
  Store,
  StoreCapabilities,
  UniqueKey,
  UniqueKeyHolder,
  VersionRecord,
  WriteOp,
} from './types.js';

/**
 * A store that passes every call to another one: the base of the server's wrappers (the one that
 * wakes change-feed streams, the staging view of a batch), which override only what they change.
 */
export class DelegatingStore implements Store {
  readonly capabilities: StoreCapabilities;
  constructor(readonly inner: Store) {
    this.capabilities = inner.capabilities;
  }
  get(collection: string, id: string): Promise<Head | null> {
    return this.inner.get(collection, id);
  }
  commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    return this.inner.commit(ops);
  }
  list(collection: string, options: ListOptions): Promise<ListPage> {
    return this.inner.list(collection, options);
  }
  history(
    collection: string,
    id: string,
    options: { readonly limit: number; readonly before?: number | undefined },
  ): Promise<readonly VersionRecord[]> {
    return this.inner.history(collection, id, options);
  }
  version(collection: string, id: string, version: number): Promise<VersionRecord | null> {
    return this.inner.version(collection, id, version);
  }
  versionByEtag(collection: string, id: string, etag: string): Promise<VersionRecord | null> {
    return this.inner.versionByEtag(collection, id, etag);
  }
  changes(options: {
    readonly since: number;
    readonly limit: number;
    readonly collection?: string | undefined;
  }): Promise<readonly ChangeRecord[]> {
    return this.inner.changes(options);
  }
  feedFloor(): Promise<number> {
    return this.inner.feedFloor();
  }
  pruneChanges(upTo: number, limit: number): Promise<number> {
    return this.inner.pruneChanges(upTo, limit);
  }
  lastSeq(): Promise<number> {
    return this.inner.lastSeq();
  }
  lease(collection: string, id: string, request: LeaseRequest): Promise<LeaseResult> {
    return this.inner.lease(collection, id, request);
  }
  claimIdempotencyKey(request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    return this.inner.claimIdempotencyKey(request);
  }
  completeIdempotencyKey(completion: IdempotencyCompletion): Promise<void> {
    return this.inner.completeIdempotencyKey(completion);
  }
  releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    return this.inner.releaseIdempotencyKey(scope, key);
  }
  purgeIdempotencyKeys(now: number, limit: number): Promise<number> {
    return this.inner.purgeIdempotencyKeys(now, limit);
  }
  uniqueKeyHolders(collection: string, keys: readonly UniqueKey[]): Promise<readonly UniqueKeyHolder[]> {
    return this.inner.uniqueKeyHolders(collection, keys);
  }
  commitIdempotent(commit: IdempotentCommit): Promise<IdempotentCommitResult> {
    return this.inner.commitIdempotent(commit);
  }
  indexFingerprint(collection: string): Promise<string | null> {
    return this.inner.indexFingerprint(collection);
  }
  reindex(
    collection: string,
    fingerprint: string,
    compute: (id: string, doc: JsonObject) => IndexEntries,
  ): Promise<ReindexResult> {
    return this.inner.reindex(collection, fingerprint, compute);
  }
  watchCommits(listener: () => void): () => void {
    return this.inner.watchCommits?.(listener) ?? (() => undefined);
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
