/**
 * Where the three-way merge is inside the document, and what the policy says about that place.
 *
 * Object members have the same name on every side, but an element of a keyed array can sit at
 * different positions in yours and in theirs, so a site remembers both positions. Conflict
 * pointers are formatted from one side or the other only when a conflict is found (see
 * {@link sitePointer}); the policy patterns that can still match are narrowed token by token on the
 * way down, so an empty policy costs nothing.
 *
 * @internal Nothing here is re-exported from the package entry point.
 */
import { formatPointer } from '../pointer.js';
import type { ArrayRule, CompiledMergePolicy, Pattern } from './policy.js';

/** One place in the document being merged. */
export interface Site {
  readonly parent: Site | undefined;
  /** This place's reference token in theirs (for an element theirs lacks, its position in yours). */
  readonly theirs: string;
  /** This place's reference token in yours (for an element yours lacks, its position in theirs). */
  readonly yours: string;
  readonly depth: number;
  /** Array rules whose first `depth` tokens match the path so far, most specific first. */
  readonly arrays: readonly ArrayRule[];
  /** Text patterns whose first `depth` tokens match the path so far. */
  readonly text: readonly Pattern[];
}

/** The whole document. */
export function rootSite(policy: CompiledMergePolicy): Site {
  return { parent: undefined, theirs: '', yours: '', depth: 0, arrays: policy.arrays, text: policy.text };
}

/**
 * A member or element of `site`. Policy pointers are matched against theirs' tokens, so a literal
 * index in a policy pointer names a position in theirs.
 */
export function childSite(site: Site, theirs: string, yours: string = theirs): Site {
  const depth = site.depth;
  const matches = (pattern: Pattern): boolean => {
    const token = pattern.tokens[depth];
    return token === '*' || token === theirs;
  };
  return {
    parent: site,
    theirs,
    yours,
    depth: depth + 1,
    arrays: site.arrays.length === 0 ? site.arrays : site.arrays.filter(matches),
    text: site.text.length === 0 ? site.text : site.text.filter(matches),
  };
}

/** The merge key the policy gives the array at `site`: a member name, `null`, or none (atomic). */
export function arrayKeyAt(site: Site): string | null | undefined {
  return site.arrays.find((rule) => rule.tokens.length === site.depth)?.key;
}

/** Whether the policy merges the string at `site` line by line. */
export function isTextAt(site: Site): boolean {
  return site.text.some((pattern) => pattern.tokens.length === site.depth);
}

/** The JSON Pointer of `site` in theirs' or in yours' positions. */
export function sitePointer(site: Site, side: 'theirs' | 'yours'): string {
  const tokens: string[] = [];
  for (let at: Site | undefined = site; at?.parent !== undefined; at = at.parent) tokens.push(at[side]);
  return formatPointer(tokens.reverse());
}
