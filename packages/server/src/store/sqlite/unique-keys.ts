import type { UniqueKey, WriteOp } from '../types.js';
import type { Refusal } from '../refusal.js';
import type { Statements } from './statements.js';

/*
 * Unique keys of one resource, inside the commit transaction. The `unique_keys` primary key is the
 * constraint: a key is claimed by inserting it, and only a conflicting insert looks up who holds
 * it. Never "look, then insert": on a store where two transactions can run at once (PostgreSQL),
 * both would see the key free; here the index settles it whichever way the writers interleave.
 */

/** One string per (constraint, key) pair; the length prefix keeps any two pairs apart. */
const entryOf = (constraint: string, key: string) => `${constraint.length}:${constraint}${key}`;

/**
 * Replaces the keys `op`'s resource holds with `op.uniqueKeys` (a set: order and repeats do not
 * matter). Returns the refusal for the first key, in the given order, that another resource of the
 * collection holds; the caller rolls back, so keys released or claimed before it do not stay.
 */
export function replaceUniqueKeys(
  st: Statements,
  op: WriteOp,
  keys: readonly UniqueKey[],
): Refusal | undefined {
  const held = new Map<string, UniqueKey>();
  for (const k of st.uniqueKeysOf.all(op.collection, op.id)) held.set(entryOf(k.constraint, k.key), k);
  const wanted = new Set(keys.map((k) => entryOf(k.constraint, k.key)));
  // Most updates leave the constrained fields alone: then one indexed read is all the work.
  for (const [entry, { constraint, key }] of held) {
    if (!wanted.has(entry)) st.deleteUniqueKey.run(op.collection, constraint, key, op.id);
  }
  for (const { constraint, key } of keys) {
    if (held.has(entryOf(constraint, key))) continue;
    if (st.insertUniqueKey.run(op.collection, constraint, key, op.id).changes === 1) continue;
    // The insert lost: someone holds the key. It may be this resource (the key listed twice).
    const holder = st.uniqueKeyHolder.get(op.collection, constraint, key)?.id;
    if (holder !== undefined && holder !== op.id) {
      return { reason: 'unique-violation', constraint, key, holder };
    }
  }
  return undefined;
}

/** Releases every key of a resource that is being deleted. */
export function releaseUniqueKeys(st: Statements, collection: string, id: string): void {
  st.releaseUniqueKeys.run(collection, id);
}
