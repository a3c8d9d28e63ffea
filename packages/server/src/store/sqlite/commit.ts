import type Database from 'better-sqlite3';
import { newEtag } from '../etag.js';
import type { CommitResult, Head, VersionRecord, WriteOp } from '../types.js';
import { type Statements, toHead } from './statements.js';

/** Carries a version mismatch out of the transaction function, which makes better-sqlite3 roll back. */
class VersionMismatch extends Error {
  constructor(
    readonly index: number,
    readonly current: Head | null,
  ) {
    super('version mismatch');
  }
}

function checkOp(op: WriteOp, index: number): void {
  if (!Number.isSafeInteger(op.expectVersion) || op.expectVersion < 0) {
    throw new RangeError(`ops[${index}].expectVersion must be a non-negative integer.`);
  }
  if (!Number.isSafeInteger(op.keepHistory) || op.keepHistory < 1) {
    throw new RangeError(`ops[${index}].keepHistory must be an integer of at least 1.`);
  }
}

/**
 * Builds the commit function of a connection: every op of a call is applied in one transaction
 * begun with BEGIN IMMEDIATE, or none is.
 *
 * IMMEDIATE takes the write lock before the first read, so the version compared below cannot
 * change before the write that depends on it: the compare-and-set is atomic across connections and
 * processes, and two writers never both read, then deadlock upgrading to a write (which a deferred
 * transaction in WAL mode answers with SQLITE_BUSY without waiting). Each op reads the head again,
 * so an op sees what earlier ops of the same commit wrote.
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
      if ((current?.version ?? 0) !== op.expectVersion) {
        throw new VersionMismatch(index, current === undefined ? null : toHead(current));
      }
      const live = current !== undefined && current.deleted === 0;
      if (op.doc === null && !live) {
        throw new Error(`ops[${index}] deletes ${op.collection}/${op.id}, which does not exist.`);
      }

      const version = op.expectVersion + 1;
      const kind: VersionRecord['op'] = op.doc === null ? 'delete' : live ? 'update' : 'create';
      // Never let a resource's clock run backwards (clock steps, or several writes in one millisecond).
      const at = current === undefined ? now : Math.max(now, current.updated_at + 1);
      const entry = {
        collection: op.collection,
        id: op.id,
        version,
        etag: newEtag(version),
        op: kind,
        doc: op.doc === null ? null : JSON.stringify(op.doc),
        createdAt: kind === 'create' ? at : (current?.created_at ?? at),
        at,
        by: op.actor,
      };
      st.upsertHead.run({ ...entry, deleted: op.doc === null ? 1 : 0 });
      st.insertHistory.run(entry);
      st.trimHistory.run(op.collection, op.id, version - op.keepHistory);
      st.insertChange.run(entry);
      return {
        collection: op.collection,
        id: op.id,
        version,
        etag: entry.etag,
        deleted: op.doc === null,
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
      if (error instanceof VersionMismatch) {
        return { ok: false, index: error.index, reason: 'version-mismatch', current: error.current };
      }
      throw error;
    }
  };
}
