import { DelegatingStore } from '../store/delegating.js';
import type {
  CommitResult,
  IdempotentCommit,
  IdempotentCommitResult,
  Store,
  WriteOp,
} from '../store/types.js';

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
export class NotifyingStore extends DelegatingStore {
  constructor(
    inner: Store,
    readonly notifier: ChangeNotifier,
  ) {
    super(inner);
  }
  // A lease changes no resource, so only commits wake change-feed streams.
  override async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    const result = await this.inner.commit(ops);
    if (result.ok) this.notifier.notify();
    return result;
  }
  override async commitIdempotent(commit: IdempotentCommit): Promise<IdempotentCommitResult> {
    const outcome = await this.inner.commitIdempotent(commit);
    if (outcome.state === 'claimed' && outcome.result.ok) this.notifier.notify();
    return outcome;
  }
}
