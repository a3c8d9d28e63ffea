/**
 * The clock of an operation: one signal and one deadline for everything an operation does (its
 * attempts, its waits and its conflict rounds, SPEC 4), and a sleep that the signal interrupts.
 */

/** What a client uses to wait and to draw jitter; replaceable for tests and custom schedulers. */
export interface Timers {
  /** Resolves after `ms`, or rejects with `signal.reason` as soon as `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** A number in [0, 1), as `Math.random`. */
  random(): number;
  /** Milliseconds since the epoch, as `Date.now`. */
  now(): number;
}

/** Real time. */
export const REAL_TIMERS: Timers = {
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    }),
  random: () => Math.random(),
  now: () => Date.now(),
};

/** One operation's signal and deadline. `close` must be called when the operation ends. */
export interface OperationScope {
  readonly signal: AbortSignal;
  /**
   * The signal to give `fetch`: {@link signal}, or undefined when nothing can abort the operation
   * (no caller signal, no deadline). A signal costs Node's fetch listeners, a weak reference and a
   * finalizer per request; one that can never fire is not worth it.
   */
  readonly fetchSignal: AbortSignal | undefined;
  /** When the operation's time is up (ms since the epoch), or `Infinity`. */
  readonly deadline: number;
  close(): void;
}

/**
 * Combines the caller's `signal` and a `timeoutMs` budget into one signal. The deadline aborts with
 * a `TimeoutError` DOMException, as `AbortSignal.timeout` does; the caller's abort keeps its own
 * reason.
 */
export function openScope(
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  now: number,
): OperationScope {
  if (signal === undefined && (timeoutMs === undefined || !Number.isFinite(timeoutMs))) {
    let never: AbortSignal | undefined;
    return {
      // Made only when asked for (a sleep between attempts, a resolver): it never aborts.
      get signal() {
        return (never ??= new AbortController().signal);
      },
      fetchSignal: undefined,
      deadline: timeoutMs === undefined ? Infinity : now + timeoutMs,
      close: () => undefined,
    };
  }
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
    timer = setTimeout(
      () =>
        controller.abort(new DOMException(`the operation took longer than ${timeoutMs} ms`, 'TimeoutError')),
      timeoutMs,
    );
  }
  return {
    signal: controller.signal,
    fetchSignal: controller.signal,
    deadline: timeoutMs === undefined ? Infinity : now + timeoutMs,
    close: () => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}
