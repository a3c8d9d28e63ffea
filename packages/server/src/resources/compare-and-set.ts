import type { CollectionConfig, Transition } from '../config/types.js';
import { checkDocument } from '../rules/check.js';
import type { Head, JsonObject, Rebased } from '../store/types.js';
import { busy, casTurns, commitOne } from './commit.js';
import type { ResourceContext } from './context.js';
import { live } from './representation.js';

/** What a write's "next document" step sees of the resource in one round. */
export interface Turn {
  /** The stored head, a deleted one included; null when the resource never existed. */
  readonly head: Head | null;
  /** The head when it is live, else null. */
  readonly current: Head | null;
}

/** Who writes, with which lease, and (for a transition) along which transition. */
export interface WriteBy {
  readonly actor: string | null;
  readonly lockToken: string | undefined;
  /** The transition a write makes, for the state rules of {@link checkDocument}. */
  readonly transition?: Transition | undefined;
}

/** A committed write: the new head, and the live head it replaced (null for a create). */
export interface Written {
  readonly written: Head;
  readonly current: Head | null;
}

/**
 * The shape of every write of one existing-or-not resource (PUT, PATCH, DELETE, transitions,
 * checked increments): read the head; let `next` judge it (existence, preconditions, versions,
 * state) and compute the document to store (null deletes); check that document against the
 * collection's schema, rules and keys; commit it pinned to the version read. When another writer
 * committed in between, the whole round runs again on what it wrote, so every check sees the state
 * the write applies to; when the rounds run out the answer is 503 busy.
 *
 * A store that can (PostgreSQL) runs that new round inside the commit itself, on the head it
 * locked (WriteOp.rebase): many writers of one hot resource then land in one transaction instead of
 * all but one losing the race. Elsewhere the round runs again here ({@link casTurns}).
 */
export async function compareAndSet(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  by: WriteBy,
  next: (turn: Turn) => Promise<JsonObject | null> | JsonObject | null,
): Promise<Written> {
  // The live head that each version read left, by version: the write that commits replaced the
  // version its last round ran on, which, when the store made it again, is not the one read here.
  const replaced = new Map<number, Head | null>();
  // What the latest round computed, for the problem of a refusal after it.
  let latest: { doc: JsonObject | null; current: Head | null } = { doc: null, current: null };
  const round = async (head: Head | null) => {
    const current = live(head);
    replaced.set(head?.version ?? 0, current);
    const doc = await next({ head, current });
    latest = { doc, current };
    const indexed = doc ? await checkDocument(ctx, collection, id, current, doc, by.transition) : undefined;
    return { doc, current, indexed };
  };
  const rebase = async (head: Head | null): Promise<Rebased> => {
    const { doc, indexed } = await round(head);
    return { doc, uniqueKeys: indexed?.uniqueKeys, references: indexed?.references };
  };
  for await (const _round of casTurns(ctx, collection.name, id)) {
    const head = await ctx.store.get(collection.name, id);
    const { doc, current, indexed } = await round(head);
    const written = await commitOne(ctx, collection, id, {
      expectVersion: head?.version ?? 0,
      doc,
      actor: by.actor,
      indexed,
      current,
      lockToken: by.lockToken,
      rebase,
      latest: () => latest,
    });
    if (written) {
      const before = written.version - 1;
      return { written, current: replaced.has(before) ? replaced.get(before)! : current };
    }
  }
  throw busy(collection.name, id);
}
