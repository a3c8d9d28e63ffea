import type Database from 'better-sqlite3';
import { newEtag } from '../etag.js';
import { applyIncrement } from '../increment.js';
import type {
  CommitFailure,
  CommitResult,
  Head,
  Increment,
  JsonObject,
  VersionRecord,
  WriteOp,
} from '../types.js';
import { danglingReference, dropReferences, referencedBy, replaceReferences } from './references.js';
import { type HeadRow, type Statements, toHead } from './statements.js';
import { releaseUniqueKeys, replaceUniqueKeys } from './unique-keys.js';

type WithoutIndex<F> = F extends unknown ? Omit<F, 'ok' | 'index'> : never;

/** A {@link CommitFailure} before the op index is known: what the per-op checks return. */
export type Refusal = WithoutIndex<CommitFailure>;

/** Carries a refusal out of the transaction function, which makes better-sqlite3 roll back. */
class Refused extends Error {
  constructor(readonly failure: CommitFailure) {
    super(failure.reason);
  }
}

function refuse(index: number, refusal: Refusal): never {
  throw new Refused({ ok: false, index, ...refusal });
}

function checkOp(op: WriteOp, index: number): void {
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

/** The document an increment produces from the live head `current`, or the refusal. */
function incremented(increment: Increment, index: number, current: HeadRow | undefined): JsonObject {
  if (current === undefined || current.deleted === 1 || current.doc === null) {
    return refuse(index, { reason: 'not-found' });
  }
  // A fresh parse, so applyIncrement may change it in place.
  const outcome = applyIncrement(JSON.parse(current.doc) as JsonObject, increment);
  if (outcome.ok) return outcome.doc;
  const { ok: _, ...refusal } = outcome;
  return refuse(index, { ...refusal, current: toHead(current) });
}

/**
 * Builds the commit function of a connection: every op of a call is applied in one transaction
 * begun with BEGIN IMMEDIATE, or none is.
 *
 * IMMEDIATE takes the write lock before the first read, so the version compared below cannot
 * change before the write that depends on it: the compare-and-set is atomic across connections and
 * processes, and two writers never both read, then deadlock upgrading to a write (which a deferred
 * transaction in WAL mode answers with SQLITE_BUSY without waiting). Each op reads the head again,
 * so an op sees what earlier ops of the same commit wrote. The same lock makes the reference checks
 * sound: no other writer can delete a target between the check and the commit.
 *
 * An op without `uniqueKeys`, `references` or `increment` (the common case) costs the same five
 * statements as before those existed; only a delete always releases keys and references.
 */
export function createCommit(
  db: Database.Database,
  st: Statements,
): (ops: readonly WriteOp[]) => CommitResult {
  const apply = db.transaction((ops: readonly WriteOp[]): Head[] => {
    // Read after the lock is held, so that timestamps follow commit order across processes.
    const now = Date.now();
    return ops.map((op, index) => {
      checkOp(op, index);
      // The row, not a Head: parsing a large document only to compare versions would be wasted.
      const current = st.getHead.get(op.collection, op.id);
      if (op.expectVersion !== null && (current?.version ?? 0) !== op.expectVersion) {
        return refuse(index, {
          reason: 'version-mismatch',
          current: current === undefined ? null : toHead(current),
        });
      }
      const live = current !== undefined && current.deleted === 0;
      const doc = op.increment !== undefined ? incremented(op.increment, index, current) : op.doc;

      if (doc === null) {
        if (!live) throw new Error(`ops[${index}] deletes ${op.collection}/${op.id}, which does not exist.`);
        const referrers = referencedBy(st, op.collection, op.id);
        if (referrers.length > 0) refuse(index, { reason: 'still-referenced', referencedBy: referrers });
        releaseUniqueKeys(st, op.collection, op.id);
        dropReferences(st, op.collection, op.id);
      } else {
        if (op.references !== undefined) {
          const dangling = danglingReference(st, op, op.references);
          if (dangling !== undefined) refuse(index, dangling);
        }
        if (op.uniqueKeys !== undefined) {
          const violation = replaceUniqueKeys(st, op, op.uniqueKeys);
          if (violation !== undefined) refuse(index, violation);
        }
        if (op.references !== undefined) replaceReferences(st, op, op.references);
      }

      const version = (current?.version ?? 0) + 1;
      const kind: VersionRecord['op'] = doc === null ? 'delete' : live ? 'update' : 'create';
      // Never let a resource's clock run backwards (clock steps, or several writes in one millisecond).
      const at = current === undefined ? now : Math.max(now, current.updated_at + 1);
      const entry = {
        collection: op.collection,
        id: op.id,
        version,
        etag: newEtag(version),
        op: kind,
        doc: doc === null ? null : JSON.stringify(doc),
        createdAt: kind === 'create' ? at : (current?.created_at ?? at),
        at,
        by: op.actor,
      };
      st.upsertHead.run({ ...entry, deleted: doc === null ? 1 : 0 });
      st.insertHistory.run(entry);
      st.trimHistory.run(op.collection, op.id, version - op.keepHistory);
      st.insertChange.run(entry);
      return {
        collection: op.collection,
        id: op.id,
        version,
        etag: entry.etag,
        deleted: doc === null,
        // A copy, so that the caller mutating its input cannot change what it was told was stored.
        doc: entry.doc === null ? null : JSON.parse(entry.doc),
        createdAt: entry.createdAt,
        updatedAt: at,
        updatedBy: op.actor,
      };
    });
  });

  return (ops) => {
    try {
      return { ok: true, heads: apply.immediate(ops) };
    } catch (error) {
      if (error instanceof Refused) return error.failure;
      throw error;
    }
  };
}
