/**
 * The storage contract of the resource server.
 *
 * A store keeps, per collection and id, the current head of a resource (or its tombstone), its
 * version history, and one global change sequence. Every mutation goes through {@link Store.commit}:
 * a compare-and-set on the resource version that, in the same transaction, writes the new head,
 * appends history (trimmed to the requested retention) and appends the change sequence. The server
 * reads a head, evaluates preconditions and computes the new document, then commits with the
 * version it read; if another writer got in between, the commit reports a mismatch and the server
 * re-evaluates. That makes "check and write" one atomic step on every adapter.
 */

/** A JSON value as stored. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object: the user fields of a resource (never `id` or `_`-prefixed members). */
export type JsonObject = { [key: string]: JsonValue };
/** A primitive usable in an equality filter. */
export type JsonPrimitive = null | boolean | number | string;

/** The current state of one URL: a live resource, or the tombstone left by a delete. */
export interface Head {
  readonly collection: string;
  readonly id: string;
  /** Strictly increasing per URL, never reused, not even after delete and re-create. */
  readonly version: number;
  /** Strong entity-tag, formatted with quotes (`"..."`); never repeats for the URL. */
  readonly etag: string;
  /** True when the last write was a delete; `doc` is then `null`. */
  readonly deleted: boolean;
  readonly doc: JsonObject | null;
  /** Epoch milliseconds when this incarnation was created (after a re-create: the re-create). */
  readonly createdAt: number;
  /** Epoch milliseconds of the last write (for a tombstone: the delete). */
  readonly updatedAt: number;
  /** Actor of the last write, or null. */
  readonly updatedBy: string | null;
}

/**
 * One value of a unique constraint held by a document. The server computes `key` (a canonical
 * encoding of the constrained fields, case-folded where the constraint says so); the store keeps
 * one row per (collection, constraint, key) under its own unique index, so of two concurrent
 * writers of one key exactly one commits.
 */
export interface UniqueKey {
  readonly constraint: string;
  readonly key: string;
}

/** A unique key and the id (in the key's collection) of the resource holding it. */
export interface UniqueKeyHolder extends UniqueKey {
  readonly holder: string;
}

/** A reference from a field of a document to another resource (SPEC 2 `references`). */
export interface Reference {
  /** JSON Pointer of the referencing field in the document. */
  readonly pointer: string;
  readonly collection: string;
  readonly id: string;
}

/**
 * An atomic add to a number inside the current document (SPEC 3.2 `_increment`), applied by the
 * store inside the transaction to whatever version is current, so concurrent increments never
 * need to retry. Bounds are checked on the result.
 */
export interface Increment {
  /** JSON Pointer of the number; a missing member counts as 0 and is created. */
  readonly pointer: string;
  readonly by: number;
  readonly minimum?: number | undefined;
  readonly maximum?: number | undefined;
  readonly exclusiveMinimum?: number | undefined;
  readonly exclusiveMaximum?: number | undefined;
}

/** One write inside a commit. */
export interface WriteOp {
  readonly collection: string;
  readonly id: string;
  /**
   * The version the caller based the write on: the `version` of the head it read, or 0 when
   * `get` returned null (the URL never held anything). A tombstone counts with its version.
   * Only an `increment` may pass null: apply to whatever version is current.
   */
  readonly expectVersion: number | null;
  /**
   * The new user document, or null to delete. Deleting a missing or deleted resource is a caller
   * error. Ignored when `increment` is set.
   */
  readonly doc: JsonObject | null;
  /** Apply this increment to the current document instead of writing `doc`. */
  readonly increment?: Increment | undefined;
  readonly actor: string | null;
  /** How many versions of this resource to keep in history after the write (at least 1). */
  readonly keepHistory: number;
  /**
   * The entity-tag and time of the new version, when the caller already showed them to a client
   * (a batch stages its writes before committing them). The store generates both otherwise. A
   * given `at` still never goes below the previous version's time.
   */
  readonly etag?: string | undefined;
  readonly at?: number | undefined;
  /**
   * Completes an idempotency key in the same transaction as this write (put on the last op of a
   * commit): a request's effects and the answer replayed for its retries are stored together.
   */
  readonly idempotency?: IdempotencyCompletion | undefined;
  /**
   * Every unique key the new document holds, replacing those it held before; undefined when the
   * collection has no unique constraints (nothing is read or written then). A delete releases
   * the resource's keys whatever this says.
   */
  readonly uniqueKeys?: readonly UniqueKey[] | undefined;
  /**
   * Every reference the new document makes, replacing those it made before; each target must be
   * a live resource at commit time. Undefined when the collection declares no references.
   */
  readonly references?: readonly Reference[] | undefined;
  /**
   * Checks the resource's lease (SPEC 3.9) inside the commit: the op is refused with `locked` when
   * a lease live at `now` (epoch ms) is held under a token other than `token` (null: none sent).
   * Undefined: leases are not looked at. A delete ends the resource's lease whatever this says.
   */
  readonly lock?: { readonly token: string | null; readonly now: number } | undefined;
  /**
   * Makes the write again on a head other than the one it was based on, instead of refusing it
   * with `version-mismatch`: a store that supports it calls it, inside the commit and with the
   * resource's head locked, when `expectVersion` is not the current version, and applies what it
   * returns on top of that head. It runs the checks a new compare-and-set round would, so the
   * outcome is the one that round would have had; it saves the round trip and the lost race (many
   * writers of one hot resource land in one transaction). When it throws, or returns what the
   * commit cannot apply in place (a create, a delete on the batched path, unique keys or references
   * where the op had none), the op is refused with `version-mismatch` as without it, and the
   * caller's next round, after the commit, answers. Stores may ignore it (SQLite does: its commits
   * are synchronous, and a rebase is not).
   */
  readonly rebase?: ((head: Head | null) => Promise<Rebased>) | undefined;
}

/** What {@link WriteOp.rebase} returns: the op's document and what it holds, remade on a newer head. */
export interface Rebased {
  readonly doc: JsonObject | null;
  readonly uniqueKeys?: readonly UniqueKey[] | undefined;
  readonly references?: readonly Reference[] | undefined;
}

/** Resources that still reference a resource being deleted, per referencing collection. */
export interface ReferencedBy {
  readonly collection: string;
  readonly count: number;
  /** Ids of up to 5 referencing resources, ascending. */
  readonly examples: readonly string[];
}

/** Why a commit applied nothing; `index` is the op that failed. */
export type CommitFailure =
  | {
      readonly ok: false;
      readonly index: number;
      readonly reason: 'version-mismatch';
      /** The head found instead (null when the URL never held anything). */
      readonly current: Head | null;
    }
  | {
      readonly ok: false;
      readonly index: number;
      readonly reason: 'unique-violation';
      readonly constraint: string;
      readonly key: string;
      /** Id (in the op's collection) of the resource holding the key. */
      readonly holder: string;
    }
  | {
      readonly ok: false;
      readonly index: number;
      readonly reason: 'dangling-reference';
      /** The first reference whose target is absent or deleted. */
      readonly reference: Reference;
    }
  | {
      readonly ok: false;
      readonly index: number;
      readonly reason: 'still-referenced';
      /** Every referencing collection, ordered by name; references from the resource itself do not count. */
      readonly referencedBy: readonly ReferencedBy[];
    }
  | {
      readonly ok: false;
      readonly index: number;
      readonly reason: 'out-of-bounds';
      /** The value before the increment. */
      readonly value: number;
      readonly bound: 'minimum' | 'maximum';
      /** The bound that would be crossed (for exclusive bounds, the exclusive limit). */
      readonly limit: number;
      readonly current: Head;
    }
  | {
      readonly ok: false;
      readonly index: number;
      /** An increment on a resource that is absent or deleted. */
      readonly reason: 'not-found';
    }
  | {
      readonly ok: false;
      readonly index: number;
      /** An increment whose pointer holds something other than a number, or whose parent is missing. */
      readonly reason: 'not-a-number';
      readonly current: Head;
    }
  | {
      readonly ok: false;
      readonly index: number;
      /** Someone else's lease is live on the resource, and the op did not carry its token (`WriteOp.lock`). */
      readonly reason: 'locked';
      readonly owner: string | null;
      /** Epoch milliseconds when the lease expires unless renewed. */
      readonly expiresAt: number;
    };

/** The outcome of {@link Store.commit}: every op applied, or none (the first failure says why). */
export type CommitResult = { readonly ok: true; readonly heads: readonly Head[] } | CommitFailure;

/** One entry of a resource's version history. */
export interface VersionRecord {
  readonly version: number;
  readonly etag: string;
  readonly op: 'create' | 'update' | 'delete';
  /** The document as of this version (null for a delete). */
  readonly doc: JsonObject | null;
  readonly createdAt: number;
  readonly at: number;
  readonly by: string | null;
}

/** One entry of the global change sequence. */
export interface ChangeRecord {
  /** Strictly increasing across the whole store, in commit order. */
  readonly seq: number;
  readonly collection: string;
  readonly id: string;
  readonly op: 'create' | 'update' | 'delete';
  readonly version: number;
  readonly etag: string;
  readonly doc: JsonObject | null;
  readonly at: number;
  readonly by: string | null;
}

export interface ListOptions {
  /** 1..1000. */
  readonly limit: number;
  /** Opaque cursor returned as `next` by a previous call. */
  readonly cursor?: string | undefined;
  /**
   * Equality filters on top-level user fields: a resource matches when, for every field, its value
   * is strictly equal (same JSON type and value) to one of the listed values.
   */
  readonly filters?: Readonly<Record<string, readonly JsonPrimitive[]>> | undefined;
}

export interface ListPage {
  /** Live resources only (no tombstones), ordered by id ascending. */
  readonly items: readonly Head[];
  /** Cursor for the next page, or null when this page is the last. */
  readonly next: string | null;
}

/** Thrown by `list` for a cursor it did not issue. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

/**
 * Thrown by a store that could not get a turn: its transaction kept losing to others (PostgreSQL
 * serialization failures and deadlocks, retried inside first), a lock stayed held too long, or the
 * database does not answer. Nothing was written by the call that failed this way. The server answers
 * 503 `busy` with `Retry-After: retryAfterSeconds`.
 */
export class StoreBusyError extends Error {
  override readonly name = 'StoreBusyError';
  constructor(
    message: string,
    /** What the client is told to wait before retrying. */
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const OUTCOME_UNKNOWN = Symbol.for('truce.StoreOutcomeUnknownError');

/**
 * Thrown by a store when a write reached the database and the connection broke before its answer
 * (during COMMIT, or during a write that is one statement): the write may or may not have been
 * applied, so unlike {@link StoreBusyError} it must not be reported as "nothing was written". The
 * server answers 503 `outcome-unknown` with `Retry-After: retryAfterSeconds`. Recognise it with
 * {@link isStoreOutcomeUnknownError}, which also works across copies of this package.
 */
export class StoreOutcomeUnknownError extends Error {
  override readonly name = 'StoreOutcomeUnknownError';
  constructor(
    message: string,
    /** What the client is told to wait before retrying. */
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    Object.defineProperty(this, OUTCOME_UNKNOWN, { value: true });
  }
}

/** Whether `error` is a {@link StoreOutcomeUnknownError}, from this or any other copy of the package. */
export function isStoreOutcomeUnknownError(error: unknown): error is StoreOutcomeUnknownError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as Record<symbol, unknown>)[OUTCOME_UNKNOWN] === true
  );
}

/** What an adapter can do, as data (STYLE: capabilities are a frozen object, not instanceof checks). */
export interface StoreCapabilities {
  /** Adapter name, e.g. `sqlite`. */
  readonly name: string;
  /** True when several server processes may share the store. */
  readonly multiProcess: boolean;
  /** True when data lives only in memory and is lost on close. */
  readonly ephemeral: boolean;
}

/** The storage interface every adapter implements; the conformance suite checks it. */
export interface Store extends IdempotencyKeys {
  readonly capabilities: StoreCapabilities;
  /** The head for a URL (live or tombstone), or null when nothing was ever stored there. */
  get(collection: string, id: string): Promise<Head | null>;
  /** Atomically apply every op or none (see {@link CommitResult}). */
  commit(ops: readonly WriteOp[]): Promise<CommitResult>;
  /** Takes, renews or releases the lease on a resource, atomically with respect to commits (SPEC 3.9). */
  lease(collection: string, id: string, request: LeaseRequest): Promise<LeaseResult>;
  list(collection: string, options: ListOptions): Promise<ListPage>;
  /** History newest first, at most `limit` entries, only versions lower than `before` when given. */
  history(
    collection: string,
    id: string,
    options: { readonly limit: number; readonly before?: number | undefined },
  ): Promise<readonly VersionRecord[]>;
  /** One past version by number, or null when unknown or trimmed. */
  version(collection: string, id: string, version: number): Promise<VersionRecord | null>;
  /** The history entry that carried this entity-tag, or null when unknown or trimmed. */
  versionByEtag(collection: string, id: string, etag: string): Promise<VersionRecord | null>;
  /** Change records with seq > `since`, ascending, at most `limit`, optionally for one collection. */
  changes(options: {
    readonly since: number;
    readonly limit: number;
    readonly collection?: string | undefined;
  }): Promise<readonly ChangeRecord[]>;
  /**
   * The change feed's floor: changes with a higher seq are all there; at or below it some may have
   * been pruned, so a reader behind it must start over (0: nothing was ever pruned).
   */
  feedFloor(): Promise<number>;
  /**
   * Prunes up to `limit` change entries with seq <= `upTo` that no retained version history needs,
   * and raises the floor to `upTo`. Resolves with how many entries were removed.
   */
  pruneChanges(upTo: number, limit: number): Promise<number>;
  /** Highest seq committed so far (0 when none). */
  lastSeq(): Promise<number>;
  /**
   * Which of `keys` some live resource of the collection holds, and which resource, in the order
   * given (keys nobody holds are left out). A plain read, for reporting every unique key a refused
   * write collides with (the store's refusal names only the first): the commit alone decides.
   */
  uniqueKeyHolders(collection: string, keys: readonly UniqueKey[]): Promise<readonly UniqueKeyHolder[]>;
  /** What the collection's unique keys and references were last derived from (null: never). */
  indexFingerprint(collection: string): Promise<string | null>;
  /**
   * Derives again the unique keys and references of every live resource of a collection, in one
   * transaction, when the configuration changed what they are derived from. Nothing changes when
   * the existing data breaks them (see {@link ReindexResult}).
   */
  reindex(
    collection: string,
    fingerprint: string,
    compute: (id: string, doc: JsonObject) => IndexEntries,
  ): Promise<ReindexResult>;
  /**
   * Calls `listener` soon after a commit made through another connection or process sharing the
   * store (it may also be called for this process's own commits, or spuriously), so that change
   * feeds wake without waiting for their next poll. Returns the function that unsubscribes.
   * Optional: feeds of a store without it rely on polling alone.
   */
  watchCommits?(listener: () => void): () => void;
  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The unique keys and references one document holds, as {@link Store.reindex} computes them. */
export interface IndexEntries {
  readonly uniqueKeys: readonly UniqueKey[];
  readonly references: readonly Reference[];
}

/** The outcome of {@link Store.reindex}; on failure nothing changed. At most 20 of each kind are listed. */
export type ReindexResult =
  | { readonly ok: true; readonly resources: number }
  | {
      readonly ok: false;
      /** Keys held by more than one live resource, with the ids holding each (ascending). */
      readonly collisions: readonly {
        readonly constraint: string;
        readonly key: string;
        readonly ids: readonly string[];
      }[];
      /** References whose target is absent or deleted. */
      readonly dangling: readonly { readonly id: string; readonly reference: Reference }[];
    };

/** An answer kept for replay under an Idempotency-Key (SPEC 3.8). */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body as sent, or null for none. */
  readonly body: string | null;
}

/** A request to claim an Idempotency-Key before running the request it came with. */
export interface IdempotencyClaimRequest {
  /** Actor and route the key belongs to; the same key in another scope is another key. */
  readonly scope: string;
  readonly key: string;
  /** Digest of what the request asks for; a retry must ask for the same. */
  readonly fingerprint: string;
  readonly now: number;
  /** How long the claim holds before another request may take it over (the first one died). */
  readonly leaseMs: number;
  /** When the key is forgotten. */
  readonly expiresAt: number;
}

/** What a claim found. */
export type IdempotencyClaim =
  | { readonly state: 'claimed' }
  | { readonly state: 'completed'; readonly response: StoredResponse }
  | { readonly state: 'in-flight'; readonly lockedUntil: number }
  | { readonly state: 'mismatch' };

/** The answer that completes a claimed key. */
export interface IdempotencyCompletion {
  readonly scope: string;
  readonly key: string;
  readonly response: StoredResponse;
}

/** Idempotency keys (SPEC 3.8): every store keeps them, so retries work across processes. */
export interface IdempotencyKeys {
  /** Claims a key, or says why not; atomic across processes. */
  claimIdempotencyKey(request: IdempotencyClaimRequest): Promise<IdempotencyClaim>;
  /** Completes a claimed key for a request that wrote nothing (a refusal, a read). */
  completeIdempotencyKey(completion: IdempotencyCompletion): Promise<void>;
  /** Gives up a claim whose request ended without an answer worth replaying (a 5xx). */
  releaseIdempotencyKey(scope: string, key: string): Promise<void>;
  /** Forgets up to `limit` keys that expired by `now`; resolves with how many. */
  purgeIdempotencyKeys(now: number, limit: number): Promise<number>;
  /**
   * Claims a key, applies `ops` and completes the key with their answer, all in one transaction
   * (see {@link IdempotentCommit}). A key found already there is not touched and no op is applied:
   * the result is what a claim would have found (`completed`, `mismatch`, `in-flight`).
   */
  commitIdempotent(commit: IdempotentCommit): Promise<IdempotentCommitResult>;
}

/**
 * A request whose whole effect is one commit and whose answer follows from that commit's outcome
 * alone (a blind `_increment`): its claim, its writes and its stored answer need no round trip
 * between them, so they share one transaction. A crash leaves all three or none; a concurrent
 * request with the same key waits for that transaction and then finds the answer.
 */
export interface IdempotentCommit {
  /** The claim, as for {@link IdempotencyKeys.claimIdempotencyKey} (`leaseMs` is not used: no moment is in flight). */
  readonly claim: IdempotencyClaimRequest;
  readonly ops: readonly WriteOp[];
  /**
   * The answer to keep under the key for the commit's outcome. Called inside the transaction, after
   * the ops applied or were refused (a refused commit applies none of them), again each time the
   * store runs the transaction again. Null keeps nothing: the key stays free. Throwing undoes the
   * claim and the ops, and the call rejects with that error.
   */
  readonly answer: (result: CommitResult) => StoredResponse | null;
}

/** The outcome of {@link IdempotencyKeys.commitIdempotent}. */
export type IdempotentCommitResult =
  | Exclude<IdempotencyClaim, { readonly state: 'claimed' }>
  | { readonly state: 'claimed'; readonly result: CommitResult };

/**
 * A request to {@link Store.lease} (SPEC 3.9). Time is passed in (`now`, epoch ms) rather than read
 * by the store, so that every process agrees on the clock the caller chose, and tests move it. A
 * lease is live while `now < expiresAt` and it has not been released; an expired lease counts as
 * released.
 */
export type LeaseRequest =
  | {
      readonly action: 'acquire';
      /**
       * Null: take a new lease (refused with `locked` while another one is live). A token: renew
       * the live lease held under it (same token and fencing, new expiry); `token-mismatch` when
       * there is no such live lease.
       */
      readonly token: string | null;
      /** Who holds the lease, as reported to others; a renewal keeps the lease's own owner. */
      readonly owner: string | null;
      /** Lifetime from `now`, at least 1; a renewal without it reuses the lease's own. */
      readonly ttlMs?: number | undefined;
      readonly now: number;
    }
  | {
      readonly action: 'release';
      /** Must be the token of the live lease, or the release is refused with `token-mismatch`. */
      readonly token: string;
      readonly now: number;
    };

/** One lease on a resource. */
export interface Lease {
  readonly collection: string;
  readonly id: string;
  /** Random and unguessable: whoever shows it may write while the lease is live. */
  readonly token: string;
  readonly owner: string | null;
  /** Strictly increasing per resource across all its leases (a renewal keeps it), never reused. */
  readonly fencing: number;
  readonly ttlMs: number;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

/** The outcome of {@link Store.lease}; a refusal changes nothing. */
export type LeaseResult =
  | { readonly ok: true; readonly outcome: 'acquired' | 'renewed' | 'released'; readonly lease: Lease }
  /** The resource is absent or deleted. */
  | { readonly ok: false; readonly reason: 'not-found' }
  /** Another lease is live. */
  | {
      readonly ok: false;
      readonly reason: 'locked';
      readonly owner: string | null;
      readonly expiresAt: number;
    }
  /** No live lease has the token given (it expired, was released, or never existed). */
  | { readonly ok: false; readonly reason: 'token-mismatch' };
