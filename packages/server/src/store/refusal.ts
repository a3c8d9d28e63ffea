import { applyIncrement } from './increment.js';
import type { CommitFailure, Head, Increment, JsonObject, Reference, WriteOp } from './types.js';

/*
 * What every adapter's commit shares: the shape of a refusal before its op index is known, the
 * exception that carries it out of the code applying the ops (the caller rolls back and answers the
 * failure), the argument checks of an op, and the document an increment produces.
 */

type WithoutIndex<F> = F extends unknown ? Omit<F, 'ok' | 'index'> : never;

/** A {@link CommitFailure} before the op index is known: what the per-op checks return. */
export type Refusal = WithoutIndex<CommitFailure>;

/** Carries a refusal out of the apply function; the caller rolls the call back and returns the failure. */
export class Refused extends Error {
  constructor(readonly failure: CommitFailure) {
    super(failure.reason);
  }
}

/** Throws the {@link Refused} for op `index`. */
export function refuse(index: number, refusal: Refusal): never {
  throw new Refused({ ok: false, index, ...refusal });
}

/**
 * Checks the arguments of op `index` that no store can make sense of.
 *
 * @throws RangeError for an expectVersion or keepHistory out of range.
 */
export function checkOp(op: WriteOp, index: number): void {
  const expected = op.expectVersion;
  if (expected === null ? op.increment === undefined : !Number.isSafeInteger(expected) || expected < 0) {
    throw new RangeError(
      `ops[${index}].expectVersion must be a non-negative integer (or null, for an increment).`,
    );
  }
  if (!Number.isSafeInteger(op.keepHistory) || op.keepHistory < 1) {
    throw new RangeError(`ops[${index}].keepHistory must be an integer of at least 1.`);
  }
}

/**
 * The document an increment produces from the stored JSON text of the live head (`docText` null or
 * `live` false: there is none), or throws the refusal; `current` builds the head a refusal reports.
 */
export function incremented(
  increment: Increment,
  index: number,
  live: boolean,
  docText: string | null,
  current: () => Head,
): JsonObject {
  if (!live || docText === null) return refuse(index, { reason: 'not-found' });
  // A fresh parse, so applyIncrement may change it in place.
  const outcome = applyIncrement(JSON.parse(docText) as JsonObject, increment);
  if (outcome.ok) return outcome.doc;
  const { ok: _, ...refusal } = outcome;
  return refuse(index, { ...refusal, current: current() });
}

/**
 * The references of `op`'s document by pointer, each pointer once.
 *
 * @throws RangeError when two references share a pointer but name different targets.
 */
export function referencesByPointer(op: WriteOp, refs: readonly Reference[]): Map<string, Reference> {
  const wanted = new Map<string, Reference>();
  for (const ref of refs) {
    const twin = wanted.get(ref.pointer);
    if (twin !== undefined && (twin.collection !== ref.collection || twin.id !== ref.id)) {
      throw new RangeError(
        `Two references of ${op.collection}/${op.id} at ${ref.pointer} name different targets.`,
      );
    }
    wanted.set(ref.pointer, ref);
  }
  return wanted;
}
