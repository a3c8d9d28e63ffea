/**
 * Brands that survive two copies of this package (SPEC 4: "It works across two installed copies of
 * the package"). `instanceof` compares against one copy's class, so an error thrown by another
 * copy (a dependency that bundled its own) would not match; a `Symbol.for` key is shared by every
 * copy in the same JavaScript realm, and across realms the check still only reads a property.
 */

/** The brand of {@link TruceProblemError}. */
export const PROBLEM_ERROR = Symbol.for('truce.client.problem-error');
/** The brand of {@link TruceConflictError}. */
export const CONFLICT_ERROR = Symbol.for('truce.client.conflict-error');

/** Marks `target` with `brand`, as a non-enumerable own property (it stays out of JSON and logs). */
export function brand(target: object, key: symbol): void {
  Object.defineProperty(target, key, { value: true, enumerable: false });
}

/** Whether `value` carries `brand`. */
export function hasBrand(value: unknown, key: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[key] === true;
}
