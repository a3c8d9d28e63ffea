import type { CommitResult, Store, WriteOp } from '../store/types.js';

/**
 * Wakes change-feed streams when this process commits. Streams still poll at a slow pace, so
 * commits made by other processes on the same store are seen too.
 */
export class ChangeNotifier {
  readonly #waiters = new Set<() => void>();

  /** Resolves at the next commit of this process, or after `ms`, whichever comes first. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Called after every successful commit. */
  notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** A store whose successful commits wake the notifier; every other call goes straight through. */
export class NotifyingStore implements Store {
  readonly capabilities: Store['capabilities'];
  constructor(
    readonly inner: Store,
    readonly notifier: ChangeNotifier,
  ) {
    this.capabilities = inner.capabilities;
  }
  async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    const result = await this.inner.commit(ops);
    if (result.ok) this.notifier.notify();
    return result;
  }
  get: Store['get'] = (c, id) => this.inner.get(c, id);
  list: Store['list'] = (c, o) => this.inner.list(c, o);
  history: Store['history'] = (c, id, o) => this.inner.history(c, id, o);
  version: Store['version'] = (c, id, v) => this.inner.version(c, id, v);
  versionByEtag: Store['versionByEtag'] = (c, id, e) => this.inner.versionByEtag(c, id, e);
  changes: Store['changes'] = (o) => this.inner.changes(o);
  lastSeq: Store['lastSeq'] = () => this.inner.lastSeq();
  // A lease changes no resource, so it wakes no change-feed stream.
  lease: Store['lease'] = (c, id, r) => this.inner.lease(c, id, r);
  claimIdempotencyKey: Store['claimIdempotencyKey'] = (r) => this.inner.claimIdempotencyKey(r);
  completeIdempotencyKey: Store['completeIdempotencyKey'] = (c) => this.inner.completeIdempotencyKey(c);
  releaseIdempotencyKey: Store['releaseIdempotencyKey'] = (s, k) => this.inner.releaseIdempotencyKey(s, k);
  purgeIdempotencyKeys: Store['purgeIdempotencyKeys'] = (n, l) => this.inner.purgeIdempotencyKeys(n, l);
  indexFingerprint: Store['indexFingerprint'] = (c) => this.inner.indexFingerprint(c);
  reindex: Store['reindex'] = (c, f, compute) => this.inner.reindex(c, f, compute);
  ping: Store['ping'] = () => this.inner.ping();
  close: Store['close'] = () => this.inner.close();
}
