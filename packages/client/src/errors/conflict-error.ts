/**
 * `TruceConflictError`: an `update` that ended without writing, because its resolver said
 * `'abort'` or because its conflict rounds ran out.
 */
import type { Conflict } from '../update/resolve.js';
import { brand, CONFLICT_ERROR, hasBrand } from './brand.js';

/** Why an update gave up. */
export type ConflictEndReason = 'aborted' | 'rounds-exhausted';

/**
 * An `update` that gave up. `conflicts` are those of the last round (empty when the last round's
 * refusal came without a merge to make, as when rounds ran out); `cause` is the last refusal.
 */
export class TruceConflictError extends Error {
  readonly reason: ConflictEndReason;
  readonly conflicts: readonly Conflict[];
  /** Writes sent. */
  readonly rounds: number;
  /** The current representation as last seen, when known. */
  readonly current: unknown;

  constructor(
    reason: ConflictEndReason,
    init: { conflicts: readonly Conflict[]; rounds: number; current: unknown; cause?: unknown },
  ) {
    const what =
      reason === 'aborted'
        ? `the resolver aborted the update (${init.conflicts.length} conflicts: ${init.conflicts.map((c) => c.pointer || '(document)').join(', ')})`
        : `the update still met a concurrent change after ${init.rounds} rounds`;
    super(what, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'TruceConflictError';
    this.reason = reason;
    this.conflicts = init.conflicts;
    this.rounds = init.rounds;
    this.current = init.current;
    brand(this, CONFLICT_ERROR);
  }

  /** Recognises errors of every copy of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, CONFLICT_ERROR);
  }
}

/** Whether `error` is a {@link TruceConflictError} (of any copy of this package). */
export function isConflictError(error: unknown): error is TruceConflictError {
  return hasBrand(error, CONFLICT_ERROR);
}
