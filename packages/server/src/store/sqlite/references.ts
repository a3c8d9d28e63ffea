import type { Reference, ReferencedBy, WriteOp } from '../types.js';
import { type Refusal, referencesByPointer } from '../refusal.js';
import type { RefRow, Statements } from './statements.js';

/*
 * References between resources, inside the commit transaction. Checking that a target is live and
 * then writing the referrer is safe here only because BEGIN IMMEDIATE holds the database's write
 * lock for the whole commit: no delete of the target can run in between, and a delete that runs
 * later finds the `refs` row this commit wrote. (An adapter with concurrent transactions would have
 * to lock the target row instead.)
 */

/** How many referrer ids a still-referenced refusal lists per collection. */
const EXAMPLES = 5;

/**
 * The first of `refs`, in the given order, whose target is absent or a tombstone at this point of
 * the commit (earlier ops of the commit included). A resource referring to itself is not dangling:
 * the write being checked is what makes it live.
 */
export function danglingReference(
  st: Statements,
  op: WriteOp,
  refs: readonly Reference[],
): Refusal | undefined {
  for (const { pointer, collection, id } of refs) {
    if (collection === op.collection && id === op.id) continue;
    if (st.deletedFlag.get(collection, id)?.deleted !== 0) {
      return { reason: 'dangling-reference', reference: { pointer, collection, id } };
    }
  }
  return undefined;
}

/**
 * Replaces the outgoing references of `op`'s resource with `refs`, one row per pointer, writing
 * only the rows that change (an update that keeps its references writes nothing here).
 *
 * @throws RangeError when two references share a pointer but name different targets.
 */
export function replaceReferences(st: Statements, op: WriteOp, refs: readonly Reference[]): void {
  const held = new Map<string, RefRow>();
  for (const row of st.refsFrom.all(op.collection, op.id)) held.set(row.pointer, row);
  const wanted = referencesByPointer(op, refs);
  for (const pointer of held.keys()) {
    if (!wanted.has(pointer)) st.deleteRef.run(op.collection, op.id, pointer);
  }
  for (const [pointer, ref] of wanted) {
    const row = held.get(pointer);
    if (row?.to_collection === ref.collection && row.to_id === ref.id) continue;
    st.upsertRef.run(op.collection, op.id, pointer, ref.collection, ref.id);
  }
}

/**
 * Who still references a resource about to be deleted (its references to itself aside): one entry
 * per referencing collection, ordered by name, each with a count and the first ids ascending.
 * Empty when nothing does, which costs one probe of the target index.
 */
export function referencedBy(st: Statements, collection: string, id: string): ReferencedBy[] {
  return st.referrers.all(collection, id).map((row) => ({
    collection: row.collection,
    count: row.count,
    examples: st.referrerExamples.all(collection, id, row.collection, EXAMPLES).map((r) => r.id),
  }));
}

/** Removes the outgoing references of a resource that is being deleted. */
export function dropReferences(st: Statements, collection: string, id: string): void {
  st.deleteRefsFrom.run(collection, id);
}
