/**
 * JSON Pointer (RFC 6901).
 */
import type { JsonValue } from './json.js';
import { hasMember, isJsonObject } from './json.js';

const BRAND = Symbol.for('truce.PointerSyntaxError');

/**
 * Thrown by {@link parsePointer} for a string that is not a JSON Pointer. Recognise it with
 * {@link isPointerSyntaxError}, which also works across copies of this package.
 */
export class PointerSyntaxError extends Error {
  /** The offending pointer string. */
  readonly pointer: string;

  constructor(pointer: string, reason: string) {
    super(`invalid JSON Pointer ${JSON.stringify(pointer)}: ${reason}`);
    this.name = 'PointerSyntaxError';
    this.pointer = pointer;
    // A registered symbol, not instanceof, so a copy of this class from another bundle is recognised.
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** Whether `error` is a {@link PointerSyntaxError}, from this or any other copy of the package. */
export function isPointerSyntaxError(error: unknown): error is PointerSyntaxError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Splits a JSON Pointer into its unescaped reference tokens: `''` is the whole document (`[]`),
 * `'/a~1b/0'` is `['a/b', '0']`.
 *
 * @throws PointerSyntaxError when the pointer is not empty and does not start with `/`, or
 * contains a `~` that is not followed by `0` or `1`.
 */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PointerSyntaxError(pointer, 'must be empty or start with "/"');
  if (/~(?![01])/.test(pointer)) throw new PointerSyntaxError(pointer, '"~" must be followed by "0" or "1"');
  // Section 4: "first transforming any occurrence of ~1 to /, and then transforming any occurrence
  // of ~0 to ~". A single pass over each escape gets the same result and keeps "~01" as "~1".
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~[01]/g, (escape) => (escape === '~1' ? '/' : '~')));
}

/**
 * Builds a JSON Pointer from reference tokens, escaping `~` as `~0` and `/` as `~1`. Numbers are
 * written in decimal, for array indexes.
 */
export function formatPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((token) => '/' + String(token).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/**
 * Whether a reference token is an array index in the only form RFC 6901 section 4 allows:
 * decimal digits without leading zeros (`0`, `7`, `12`, not `07`, `-1` or `1e2`).
 *
 * @internal Not re-exported from the package entry point.
 */
export function isArrayIndex(token: string): boolean {
  return /^(?:0|[1-9][0-9]*)$/.test(token);
}

/**
 * Resolves a JSON Pointer against a document. Only own members are found (`/constructor` does not
 * find `Object`), and array indexes must be canonical and in range; `-` never resolves.
 *
 * @param pointer - a pointer string, or tokens already produced by {@link parsePointer}.
 * @throws PointerSyntaxError when `pointer` is a malformed string.
 */
export function getByPointer(
  doc: JsonValue,
  pointer: string | readonly string[],
): { found: true; value: JsonValue } | { found: false } {
  const tokens = typeof pointer === 'string' ? parsePointer(pointer) : pointer;
  let node: JsonValue = doc;
  for (const token of tokens) {
    let next: JsonValue | undefined;
    if (Array.isArray(node)) {
      next = isArrayIndex(token) ? node[Number(token)] : undefined;
    } else if (isJsonObject(node)) {
      next = hasMember(node, token) ? node[token] : undefined;
    }
    if (next === undefined) return { found: false };
    node = next;
  }
  return { found: true, value: node };
}
