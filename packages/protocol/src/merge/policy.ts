/**
 * Merge policy: the plain data that says which arrays merge element by element and which strings
 * merge line by line (a collection's `merge` option, SPEC section 2). The merge itself lives in
 * merge-json.ts; this file only parses and checks the policy.
 */
import { parsePointer } from '../pointer.js';

/**
 * Where {@link mergeJson} looks inside values instead of treating them as atomic.
 *
 * Pointers are JSON Pointers (RFC 6901) in which a `*` token matches any member name or array
 * index: `/sections/*` matches `/sections/0` and `/sections/intro`, and a wildcard may stand at any
 * depth, as in the pointer of the `items` array of every section. RFC 6901 has no escape for `*`,
 * so a `*` token also matches a member literally named `*`. When several pointers match the same
 * place, the most specific wins: at the first token where they differ in kind, a name beats a
 * wildcard (`/a/b` beats `/a/*`, and `/a/*` beats any pointer that starts with a wildcard).
 */
export interface MergePolicy {
  /**
   * Arrays matched element by element instead of replaced whole: pointer of the array -> merge key,
   * the name of a member whose value identifies an element (like Kubernetes strategic merge), or
   * `null` for arrays matched by value (set-like, usually arrays of primitives).
   */
  readonly arrays?: Readonly<Record<string, string | null>>;
  /** Pointers of strings merged line by line (diff3) instead of atomically. */
  readonly text?: readonly string[];
}

/**
 * A {@link MergePolicy} whose pointers are parsed and ordered once, from
 * {@link compileMergePolicy}, for reuse across many merges. Its members other than `kind` are
 * internal.
 */
export interface CompiledMergePolicy {
  /** Tells a compiled policy from a plain one (a string, so it works across package copies). */
  readonly kind: 'truce.compiled-merge-policy';
  /** @internal The `arrays` entries, most specific first. */
  readonly arrays: readonly ArrayRule[];
  /** @internal The `text` entries. */
  readonly text: readonly Pattern[];
}

/**
 * A parsed policy pointer; `*` tokens are wildcards.
 *
 * @internal Not re-exported from the package entry point.
 */
export interface Pattern {
  readonly tokens: readonly string[];
}

/**
 * A parsed `arrays` entry.
 *
 * @internal Not re-exported from the package entry point.
 */
export interface ArrayRule extends Pattern {
  readonly key: string | null;
}

/**
 * Parses and checks a {@link MergePolicy} once, so that {@link mergeJson} does not have to on every
 * call. The result is frozen.
 *
 * @throws PointerSyntaxError when a pointer in the policy is malformed.
 * @throws TypeError when a merge key is neither a string nor `null`, or `text` is not an array of
 * strings (a policy read from a configuration file that skipped validation).
 */
export function compileMergePolicy(policy: MergePolicy): CompiledMergePolicy {
  const arrays: ArrayRule[] = Object.entries(policy.arrays ?? {}).map(([pointer, key]) => {
    if (key !== null && typeof key !== 'string') {
      throw new TypeError(`merge key of ${JSON.stringify(pointer)} must be a string or null`);
    }
    return Object.freeze({ tokens: Object.freeze(parsePointer(pointer)), key });
  });
  const text = policy.text ?? [];
  if (!Array.isArray(text) || !text.every((pointer) => typeof pointer === 'string')) {
    throw new TypeError('text must be an array of JSON Pointers');
  }
  // The most specific rule first, so that the first match found at a place is the one that applies.
  arrays.sort((a, b) => compareSpecificity(b.tokens, a.tokens));
  return Object.freeze({
    kind: 'truce.compiled-merge-policy',
    arrays: Object.freeze(arrays),
    text: Object.freeze(
      text.map((pointer) => Object.freeze({ tokens: Object.freeze(parsePointer(pointer)) })),
    ),
  });
}

/**
 * A compiled policy, compiling a plain one; `undefined` is the empty policy (every array and string
 * atomic).
 *
 * @internal Not re-exported from the package entry point.
 */
export function toCompiledPolicy(policy: MergePolicy | CompiledMergePolicy | undefined): CompiledMergePolicy {
  if (policy === undefined) return EMPTY;
  return isCompiled(policy) ? policy : compileMergePolicy(policy);
}

const EMPTY = compileMergePolicy({});

function isCompiled(policy: MergePolicy | CompiledMergePolicy): policy is CompiledMergePolicy {
  return (policy as Partial<CompiledMergePolicy>).kind === 'truce.compiled-merge-policy';
}

// Positive when `a` is more specific than `b`: at the first position where one has a wildcard and
// the other a name, the name wins. Patterns of different lengths never match the same place.
function compareSpecificity(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const wildA = a[i] === '*';
    const wildB = b[i] === '*';
    if (wildA !== wildB) return wildA ? -1 : 1;
  }
  return 0;
}
