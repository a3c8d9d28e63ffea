import { getByPointer, isJsonObject, parsePointer } from '@truce/protocol';
import type { Increment, JsonObject } from './types.js';

/*
 * The document side of `WriteOp.increment`, shared by every adapter: the adapter reads the current
 * document inside its transaction, calls `applyIncrement`, and writes the result as an ordinary
 * update. Nothing here touches storage, so the rules (what counts as 0, which bound is reported)
 * are the same on every store.
 */

/** What {@link applyIncrement} made of a document. */
export type IncrementOutcome =
  | { readonly ok: true; readonly doc: JsonObject }
  | { readonly ok: false; readonly reason: 'not-a-number' }
  | {
      readonly ok: false;
      readonly reason: 'out-of-bounds';
      /** The value before the increment. */
      readonly value: number;
      readonly bound: 'minimum' | 'maximum';
      readonly limit: number;
    };

/** RFC 6901 section 4: an array index is decimal digits without leading zeros. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * Adds `increment.by` to the number at `increment.pointer` in `doc`, **changing `doc` in place**
 * (pass a copy you own; adapters pass the document they just parsed from storage).
 *
 * A missing final object member counts as 0 and is created; a missing parent, an array index out
 * of range, or a value that is not a number is `not-a-number`. The sum is plain JavaScript
 * addition. Bounds are checked on the result (JSON Schema semantics: `minimum` is inclusive,
 * `exclusiveMinimum` is not); when a result crosses both a lower bound and an exclusive lower
 * bound, the tighter one is reported (the same for upper bounds).
 *
 * A sum beyond the largest double is out of bounds: JSON cannot hold it.
 *
 * @throws PointerSyntaxError (from `@truce/protocol`) for a malformed pointer.
 * @throws RangeError when `by` is not a finite number, a caller error.
 */
export function applyIncrement(doc: JsonObject, increment: Increment): IncrementOutcome {
  const { by } = increment;
  if (typeof by !== 'number' || !Number.isFinite(by)) {
    throw new RangeError('increment.by must be a finite number.');
  }
  const tokens = parsePointer(increment.pointer);
  const last = tokens.pop();
  // The empty pointer names the whole document, which is an object, never a number.
  if (last === undefined) return { ok: false, reason: 'not-a-number' };
  const parent = getByPointer(doc, tokens);
  if (!parent.found) return { ok: false, reason: 'not-a-number' };
  const container = parent.value;

  let value: unknown;
  let index = -1;
  if (Array.isArray(container)) {
    // Only an existing element: creating one would mean choosing where (`-`? past the end?).
    index = ARRAY_INDEX.test(last) ? Number(last) : -1;
    value = index >= 0 && index < container.length ? container[index] : undefined;
  } else if (isJsonObject(container)) {
    // Own members only: `constructor` or `__proto__` must not resolve to something inherited.
    value = Object.hasOwn(container, last) ? container[last] : 0;
  }
  if (typeof value !== 'number') return { ok: false, reason: 'not-a-number' };

  const next = value + by;
  // JSON cannot hold an infinite sum: the largest double is the implicit bound of every number.
  if (!Number.isFinite(next)) {
    return next > 0
      ? { ok: false, reason: 'out-of-bounds', value, bound: 'maximum', limit: Number.MAX_VALUE }
      : { ok: false, reason: 'out-of-bounds', value, bound: 'minimum', limit: -Number.MAX_VALUE };
  }
  const crossed = crossedBound(next, increment);
  if (crossed !== undefined) return { ok: false, reason: 'out-of-bounds', value, ...crossed };

  if (Array.isArray(container)) container[index] = next;
  // defineProperty, not assignment: assigning to `__proto__` would change the prototype instead.
  else
    Object.defineProperty(container, last, {
      value: next,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return { ok: true, doc };
}

type Crossed = { readonly bound: 'minimum' | 'maximum'; readonly limit: number };

/** The bound `n` breaks, the tighter one when it breaks an inclusive and an exclusive one. */
function crossedBound(n: number, b: Increment): Crossed | undefined {
  let lower: number | undefined;
  // Checked exclusive first so that, on a tie, the exclusive (stricter) limit is the one reported.
  if (b.exclusiveMinimum !== undefined && n <= b.exclusiveMinimum) lower = b.exclusiveMinimum;
  if (b.minimum !== undefined && n < b.minimum && (lower === undefined || b.minimum > lower))
    lower = b.minimum;
  if (lower !== undefined) return { bound: 'minimum', limit: lower };

  let upper: number | undefined;
  if (b.exclusiveMaximum !== undefined && n >= b.exclusiveMaximum) upper = b.exclusiveMaximum;
  if (b.maximum !== undefined && n > b.maximum && (upper === undefined || b.maximum < upper))
    upper = b.maximum;
  if (upper !== undefined) return { bound: 'maximum', limit: upper };
  return undefined;
}
