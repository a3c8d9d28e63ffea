import { cloneJson } from '@truce/protocol';
import { newEtag } from '../store/etag.js';
import { applyIncrement } from '../store/increment.js';
import { DelegatingStore } from '../store/delegating.js';
import { holdersAfter } from '../rules/violations.js';
import type {
  CommitResult,
  Head,
  IdempotentCommit,
  IdempotentCommitResult,
  UniqueKey,
  UniqueKeyHolder,
  WriteOp,
} from '../store/types.js';

/**
 * A store for the operations of an atomic batch (SPEC 3.10). Reads see the real store overlaid
 * with what earlier operations of the batch wrote; commits are checked against that view and
 * recorded instead of applied. The batch then commits every recorded write in one real commit,
 * each pinned to the version it was based on, so either all of them apply or none does.
 *
 * Unique keys and references are not checked here: they are checked by the real commit, and a
 * failure there is reported against the operation that staged the write. Leases are not staged:
 * they take effect at once (an atomic batch refuses `_lock` operations), and staged writes keep
 * their `lock`, so the real commit checks them.
 */
export class StagingStore extends DelegatingStore {
  /** Every write staged so far, in order, with the batch operation that staged it. */
  readonly writes: { readonly op: WriteOp; readonly operation: number }[] = [];
  readonly #heads = new Map<string, Head>();
  /** Index of the batch operation now running. */
  operation = 0;

  override async get(collection: string, id: string): Promise<Head | null> {
    return this.#heads.get(key(collection, id)) ?? (await this.inner.get(collection, id));
  }

  override async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    const heads: Head[] = [];
    const staged: { op: WriteOp; head: Head }[] = [];
    const view = new Map<string, Head | null>();
    const current = async (c: string, id: string) =>
      view.has(key(c, id)) ? view.get(key(c, id))! : await this.get(c, id);
    for (const [index, op] of ops.entries()) {
      const before = await current(op.collection, op.id);
      if (op.expectVersion !== null && op.expectVersion !== (before?.version ?? 0)) {
        return { ok: false, index, reason: 'version-mismatch', current: before };
      }
      let doc = op.doc;
      if (op.increment) {
        if (!before || before.deleted) return { ok: false, index, reason: 'not-found' };
        const outcome = applyIncrement(cloneJson(before.doc ?? {}), op.increment);
        if (!outcome.ok && outcome.reason === 'not-a-number')
          return { ok: false, index, reason: 'not-a-number', current: before };
        if (!outcome.ok && outcome.reason === 'out-of-bounds') {
          return {
            ok: false,
            index,
            reason: 'out-of-bounds',
            value: outcome.value,
            bound: outcome.bound,
            limit: outcome.limit,
            current: before,
          };
        }
        if (outcome.ok) doc = outcome.doc;
      }
      const version = (before?.version ?? 0) + 1;
      // A write pinned by an inner staging view (a batch inside an idempotent request) keeps the
      // ETag and time that view already answered with, so the answer matches what commits.
      const at = Math.max(op.at ?? Date.now(), (before?.updatedAt ?? 0) + 1);
      const created = !before || before.deleted;
      const head: Head = {
        collection: op.collection,
        id: op.id,
        version,
        etag: op.etag ?? newEtag(version),
        deleted: doc === null,
        doc,
        createdAt: created ? at : before.createdAt,
        updatedAt: at,
        updatedBy: op.actor,
      };
      // What the real commit must write: a plain write pinned to the version this one was based on.
      const pinned: WriteOp = {
        ...op,
        increment: undefined,
        doc,
        expectVersion: before?.version ?? 0,
        etag: head.etag,
        at,
      };
      staged.push({ op: pinned, head });
      view.set(key(op.collection, op.id), head);
      heads.push(head);
    }
    for (const { op, head } of staged) {
      this.writes.push({ op, operation: this.operation });
      this.#heads.set(key(op.collection, op.id), head);
    }
    return { ok: true, heads };
  }

  /** Who holds the keys once the staged writes apply (a broken rule's report reads them). */
  override async uniqueKeyHolders(
    collection: string,
    keys: readonly UniqueKey[],
  ): Promise<readonly UniqueKeyHolder[]> {
    const stored = await this.inner.uniqueKeyHolders(collection, keys);
    return holdersAfter(
      stored,
      this.writes.map((w) => w.op),
      collection,
      keys,
    );
  }

  /**
   * See {@link Store.commitIdempotent}, on the staging view: the key is claimed in the real store at
   * once, and the writes are staged with the answer on the last one, so that the answer is stored
   * by the real commit of what was staged, or not at all. (The server calls it on the real store;
   * this keeps the contract for a caller that hands it a staging view.) A refusal, having nothing
   * to stage, is stored at once.
   */
  override async commitIdempotent(c: IdempotentCommit): Promise<IdempotentCommitResult> {
    const claim = await this.inner.claimIdempotencyKey(c.claim);
    if (claim.state !== 'claimed') return claim;
    const { scope, key } = c.claim;
    try {
      const before = this.writes.length;
      const result = await this.commit(c.ops);
      const response = c.answer(result);
      const last = this.writes.length - 1;
      if (response === null) await this.inner.releaseIdempotencyKey(scope, key);
      else if (result.ok && last >= before) {
        const { op, operation } = this.writes[last]!;
        this.writes[last] = { op: { ...op, idempotency: { scope, key, response } }, operation };
      } else await this.inner.completeIdempotencyKey({ scope, key, response });
      return { state: 'claimed', result };
    } catch (error) {
      await this.inner.releaseIdempotencyKey(scope, key);
      throw error;
    }
  }

  /** The staging view is dropped, never closed: the real store stays open. */
  override async close(): Promise<void> {}
}

function key(collection: string, id: string): string {
  return `${collection}\u0000${id}`;
}
