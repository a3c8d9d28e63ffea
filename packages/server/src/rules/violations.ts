import type { ViolationCode } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { ResourceContext } from '../resources/context.js';
import type { Head, JsonObject, Reference, UniqueKey, UniqueKeyHolder, WriteOp } from '../store/types.js';
import { referencesOf } from './references.js';
import { uniqueKeysOf } from './unique.js';
import { danglingProblem, uniqueProblem } from './refusals.js';

/*
 * A write can break several business rules at once: two unique constraints, a rule and a unique
 * constraint, a state change and a reference. Reporting only the first makes a user fix it, send
 * again, and meet the next one. So every broken rule of one write is collected into one problem:
 * its `code` and members are the first one's, as SPEC 3.4 describes them, and `violations` lists
 * each (the first included).
 *
 * The checks made before the commit (state change, guard, collection rules) are all run. The ones
 * the store makes inside the commit (reference targets, unique keys) refuse the write at the first
 * failure; the others are then found by plain reads. Those reads only describe a write that is
 * refused anyway, so a race with another writer can make the list stale, never the outcome wrong.
 */

/** A problem found by reading the stored data, with what identifies it (a reference or a constraint). */
export interface StoredViolation {
  /** `reference:<pointer>` or `unique:<constraint name>`. */
  readonly key: string;
  readonly problem: ProblemError<ViolationCode>;
}

/** What identifies a broken reference at `pointer` among a write's violations. */
export const referenceKey = (pointer: string) => `reference:${pointer}`;
/** What identifies a broken unique constraint among a write's violations. */
export const uniqueKey = (constraint: string) => `unique:${constraint}`;

/**
 * The problem for every business rule one write breaks, in the order given: the first one's code,
 * members and headers, with `violations` listing them all.
 */
export function violationsProblem(problems: readonly ProblemError<ViolationCode>[]): ProblemError {
  const [first] = problems;
  if (first === undefined) throw new RangeError('violationsProblem needs at least one problem');
  const violations = problems.map(({ code, detail, members }) => {
    const { status: _status, violations: _nested, ...rest } = members as Record<string, unknown>;
    return { code, detail, ...rest };
  });
  const more =
    problems.length > 1
      ? ` It breaks ${problems.length - 1} more business rule${problems.length > 2 ? 's' : ''} as well (see violations).`
      : '';
  return new ProblemError(
    first.code,
    `${first.detail}${more}`,
    // Every ViolationCode carries `violations`; the compiler cannot see that through the union.
    { ...first.members, violations } as never,
    first.headers,
  );
}

/**
 * The references and unique constraints `doc`, written to `collection`/`id`, would break according
 * to the data stored now, in the store's order of checks (references, then unique constraints, each
 * in configuration order). `current` is the head the write was based on, for the problems' links.
 * `earlier` are the ops that came before this write in its commit (a batch), which the commit saw
 * applied although the store does not show them.
 */
export async function storedViolations(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  doc: JsonObject,
  current: Head | null,
  earlier: readonly WriteOp[] = [],
): Promise<StoredViolation[]> {
  const found: StoredViolation[] = [];
  for (const reference of referencesOf(collection, doc) ?? []) {
    if (await isDangling(ctx, collection.name, id, reference, earlier)) {
      found.push({ key: referenceKey(reference.pointer), problem: danglingProblem(reference) });
    }
  }
  const keys = uniqueKeysOf(collection, doc) ?? [];
  if (keys.length === 0) return found;
  const stored = await ctx.store.uniqueKeyHolders(collection.name, keys);
  for (const held of holdersAfter(stored, earlier, collection.name, keys)) {
    // A resource never conflicts with itself: it may keep the values it holds.
    if (held.holder === id) continue;
    const problem = await uniqueProblem(ctx, collection, id, held.constraint, held.holder, doc, current);
    found.push({ key: uniqueKey(held.constraint), problem });
  }
  return found;
}

/**
 * Who holds `keys` of `collection` once `ops` are applied over the `stored` holders, in the order of
 * `keys`: a write that lists its unique keys holds exactly those, a delete holds none, and a write
 * without `uniqueKeys` keeps what it held (the store's rules for {@link WriteOp.uniqueKeys}).
 */
export function holdersAfter(
  stored: readonly UniqueKeyHolder[],
  ops: readonly WriteOp[],
  collection: string,
  keys: readonly UniqueKey[],
): UniqueKeyHolder[] {
  const entry = (k: UniqueKey) => JSON.stringify([k.constraint, k.key]);
  const holders = new Map(stored.map((h) => [entry(h), h.holder]));
  const asked = new Set(keys.map(entry));
  for (const op of ops) {
    if (op.collection !== collection) continue;
    const deletes = op.doc === null && op.increment === undefined;
    if (!deletes && op.uniqueKeys === undefined) continue;
    for (const [k, holder] of holders) if (holder === op.id) holders.delete(k);
    if (deletes) continue;
    for (const k of op.uniqueKeys ?? []) if (asked.has(entry(k))) holders.set(entry(k), op.id);
  }
  const out: UniqueKeyHolder[] = [];
  for (const k of keys) {
    const holder = holders.get(entry(k));
    if (holder !== undefined) out.push({ constraint: k.constraint, key: k.key, holder });
  }
  return out;
}

/**
 * As the store decides it: a reference to the resource being written is never dangling, and a
 * target written by an earlier op of the same commit is as that op left it.
 */
async function isDangling(
  ctx: ResourceContext,
  collection: string,
  id: string,
  reference: Reference,
  earlier: readonly WriteOp[],
): Promise<boolean> {
  if (reference.collection === collection && reference.id === id) return false;
  for (let i = earlier.length - 1; i >= 0; i--) {
    const op = earlier[i]!;
    if (op.collection === reference.collection && op.id === reference.id)
      return op.doc === null && op.increment === undefined;
  }
  const target = await ctx.store.get(reference.collection, reference.id);
  return target === null || target.deleted;
}
