import { cloneJson } from '@truce/protocol';
import { newEtag } from '../store/etag.js';
import { applyIncrement } from '../store/increment.js';
import type { CommitResult, Head, Store, WriteOp } from '../store/types.js';

/**
 * A store for the operations of an atomic batch (SPEC 3.10). Reads see the real store overlaid
 * with what earlier operations of the batch wrote; commits are checked against that view and
 * recorded instead of applied. The batch then commits every recorded write in one real commit,
 * each pinned to the version it was based on, so either all of them apply or none does.
 *
 * Unique keys and references are not checked here: they are checked by the real commit, and a
 * failure there is reported against the operation that staged the write.
 */
export class StagingStore implements Store {
  readonly capabilities: Store['capabilities'];
  /** Every write staged so far, in order, with the batch operation that staged it. */
  readonly writes: { readonly op: WriteOp; readonly operation: number }[] = [];
  readonly #heads = new Map<string, Head>();
  /** Index of the batch operation now running. */
  operation = 0;

  constructor(readonly inner: Store) {
    this.capabilities = inner.capabilities;
  }

  async get(collection: string, id: string): Promise<Head | null> {
    return this.#heads.get(key(collection, id)) ?? (await this.inner.get(collection, id));
  }

  async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
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
      const at = Math.max(Date.now(), (before?.updatedAt ?? 0) + 1);
      const created = !before || before.deleted;
      const head: Head = {
        collection: op.collection,
        id: op.id,
        version,
        etag: newEtag(version),
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

  list: Store['list'] = (c, o) => this.inner.list(c, o);
  history: Store['history'] = (c, id, o) => this.inner.history(c, id, o);
  version: Store['version'] = (c, id, v) => this.inner.version(c, id, v);
  versionByEtag: Store['versionByEtag'] = (c, id, e) => this.inner.versionByEtag(c, id, e);
  changes: Store['changes'] = (o) => this.inner.changes(o);
  lastSeq: Store['lastSeq'] = () => this.inner.lastSeq();
  /**
   * Not staged: a lease takes effect at once (an atomic batch refuses `_lock` operations for that
   * reason, see batch.ts). Staged writes carry their `lock`, which the real commit checks.
   */
  lease: Store['lease'] = (c, id, r) => this.inner.lease(c, id, r);
  claimIdempotencyKey: Store['claimIdempotencyKey'] = (r) => this.inner.claimIdempotencyKey(r);
  completeIdempotencyKey: Store['completeIdempotencyKey'] = (c) => this.inner.completeIdempotencyKey(c);
  releaseIdempotencyKey: Store['releaseIdempotencyKey'] = (s, k) => this.inner.releaseIdempotencyKey(s, k);
  purgeIdempotencyKeys: Store['purgeIdempotencyKeys'] = (n, l) => this.inner.purgeIdempotencyKeys(n, l);
  indexFingerprint: Store['indexFingerprint'] = (c) => this.inner.indexFingerprint(c);
  reindex: Store['reindex'] = (c, f, compute) => this.inner.reindex(c, f, compute);
  ping: Store['ping'] = () => this.inner.ping();
  close: Store['close'] = async () => undefined;
}

function key(collection: string, id: string): string {
  return `${collection}\u0000${id}`;
}
