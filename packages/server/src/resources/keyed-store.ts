import { StagingStore } from '../batch/staging.js';
import type {
  CommitResult,
  Head,
  IdempotencyClaim,
  IdempotencyClaimRequest,
  IdempotentCommitResult,
  LeaseRequest,
  LeaseResult,
  ListOptions,
  ListPage,
  Store,
  StoredResponse,
  UniqueKey,
  UniqueKeyHolder,
  VersionRecord,
  WriteOp,
} from '../store/types.js';
import { takeTurn } from './commit.js';

/** What a claim found when the key was not free to take. */
export type KeyTaken = Exclude<IdempotencyClaim, { readonly state: 'claimed' }>;

/** Thrown into a keyed request once its key turned out to be taken: its answer is already decided. */
export class KeyDecided extends Error {
  override readonly name = 'KeyDecided';
}

/**
 * The Idempotency-Key of one request (SPEC 3.8), claimed when the request first uses the store
 * rather than before it runs. Checking the body and the headers needs no claim; what the request
 * reads or writes does. That leaves room for the request whose whole effect is one commit answered
 * from its outcome alone (a blind `_increment`): {@link commitOnce} claims the key inside that
 * commit, so claim, writes and stored answer cost one transaction and take no turn. Every other
 * request claims at its first read and then takes its turn on the resource, as before.
 */
export class KeyGate {
  /** What the claim found when the key was taken; the request then answers from it. */
  decided: KeyTaken | undefined;
  /** The key's row is in flight for this request (claimed, not yet completed). */
  claimed = false;
  /** The request's one commit carried the key: its answer is stored with it (a 5xx: nothing is). */
  oneCommit = false;
  #entered: Promise<void> | undefined;
  #release: (() => void) | undefined;

  constructor(
    /** The store the request would have used without a key. */
    readonly store: Store,
    readonly claim: IdempotencyClaimRequest,
    /** The resource the request is about (`c/id`), whose keyed requests take turns; undefined: none. */
    readonly resource: string | undefined,
  ) {}

  /** True while the request has not used the store: its first commit may still carry the claim. */
  get untouched(): boolean {
    return this.#entered === undefined && !this.oneCommit;
  }

  /** Claims the key (once) and takes the request's turn; rejects with {@link KeyDecided} when taken. */
  enter(): Promise<void> {
    this.#entered ??= this.#enter();
    return this.#entered;
  }

  async #enter(): Promise<void> {
    if (this.oneCommit) return;
    const found = await this.store.claimIdempotencyKey(this.claim);
    if (found.state !== 'claimed') {
      this.decided = found;
      throw new KeyDecided('the Idempotency-Key was taken');
    }
    this.claimed = true;
    // Requests to one resource that each run on a staging view pinned to what they read would make
    // all but one fail their commit and run again, over and over; in turn, each commits at its
    // first try. Requests from other processes, and writes without a key, meet at the compare-and-set.
    if (this.resource !== undefined) this.#release = await takeTurn(this.store, `keyed:${this.resource}`);
  }

  /**
   * Claims the key, applies `ops` and stores `answer(outcome)`, in one transaction of the store (in
   * SQLite's group commit, with the other requests of the same turn of the event loop). Rejects with
   * {@link KeyDecided} when the key was taken, leaving {@link decided} set.
   */
  async commitOnce(
    ops: readonly WriteOp[],
    answer: (result: CommitResult) => StoredResponse | null,
  ): Promise<CommitResult> {
    if (!this.untouched) throw new Error('commitOnce after the request used the store');
    this.oneCommit = true;
    const outcome: IdempotentCommitResult = await this.store.commitIdempotent({
      claim: this.claim,
      ops,
      answer,
    });
    if (outcome.state !== 'claimed') {
      this.decided = outcome;
      throw new KeyDecided('the Idempotency-Key was taken');
    }
    return outcome.result;
  }

  /** Ends the request's turn, if it took one. */
  leave(): void {
    this.#release?.();
    this.#release = undefined;
  }
}

/**
 * The staging view of one round of a keyed request: every read and write first passes the
 * {@link KeyGate}, so the key is claimed before the request sees or changes anything.
 */
export class KeyedStaging extends StagingStore {
  constructor(
    inner: Store,
    readonly gate: KeyGate,
  ) {
    super(inner);
  }

  override async get(collection: string, id: string): Promise<Head | null> {
    await this.gate.enter();
    return super.get(collection, id);
  }

  override async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    // A second write would be staged and never committed: the one commit was the request's answer.
    if (this.gate.oneCommit) throw new Error('a request that committed with its key commits once');
    await this.gate.enter();
    return super.commit(ops);
  }

  override async lease(collection: string, id: string, request: LeaseRequest): Promise<LeaseResult> {
    await this.gate.enter();
    return super.lease(collection, id, request);
  }

  override async list(collection: string, options: ListOptions): Promise<ListPage> {
    await this.gate.enter();
    return super.list(collection, options);
  }

  override async history(
    collection: string,
    id: string,
    options: { readonly limit: number; readonly before?: number | undefined },
  ): Promise<readonly VersionRecord[]> {
    await this.gate.enter();
    return super.history(collection, id, options);
  }

  override async version(collection: string, id: string, version: number): Promise<VersionRecord | null> {
    await this.gate.enter();
    return super.version(collection, id, version);
  }

  override async versionByEtag(collection: string, id: string, etag: string): Promise<VersionRecord | null> {
    await this.gate.enter();
    return super.versionByEtag(collection, id, etag);
  }

  override async uniqueKeyHolders(
    collection: string,
    keys: readonly UniqueKey[],
  ): Promise<readonly UniqueKeyHolder[]> {
    await this.gate.enter();
    return super.uniqueKeyHolders(collection, keys);
  }
}
