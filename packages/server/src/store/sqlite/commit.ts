import { newEtag } from '../etag.js';
import { checkOp, incremented, refuse } from '../refusal.js';
import type { Head, IdempotencyCompletion, VersionRecord, WriteOp } from '../types.js';
import type { Leases } from './leases.js';
import { danglingReference, dropReferences, referencedBy, replaceReferences } from './references.js';
import { type Statements, toHead } from './statements.js';
import { releaseUniqueKeys, replaceUniqueKeys } from './unique-keys.js';

/**
 * Builds the function that applies the ops of one `commit()` call inside the transaction the
 * caller holds (see group-commit.ts): it returns the new heads, or throws {@link Refused} (or any
 * other error) after having written part of them, and the caller rolls back to the savepoint it took
 * before the call.
 *
 * The transaction is begun with BEGIN IMMEDIATE, which takes the write lock before the first read,
 * so the version compared below cannot change before the write that depends on it: the
 * compare-and-set is atomic across connections and processes, and two writers never both read,
 * then deadlock upgrading to a write (which a deferred transaction in WAL mode answers with
 * SQLITE_BUSY without waiting). Each op reads the head again, so an op sees what earlier ops of the
 * same call, and earlier calls of the same transaction, wrote. The same lock makes the reference
 * checks sound: no other writer can delete a target between the check and the commit.
 *
 * An op without `uniqueKeys`, `references` or `increment` (the common case) costs three statements:
 * read the head, append the change (which is also the history entry, schema.ts), write the head.
 * Only a delete always releases keys and references (and ends the lease). An op with `lock` also
 * reads its lease, by primary key, before anything else.
 */
export function createApply(
  st: Statements,
  hooks: {
    readonly completeIdempotency?: (completion: IdempotencyCompletion) => void;
    /** Lease checks (leases.ts); without them an op that asks for one throws. */
    readonly leases?: Pick<Leases, 'check' | 'end'> | undefined;
  } = {},
): (ops: readonly WriteOp[]) => Head[] {
  return (ops) => {
    // Read after the lock is held, so that timestamps follow commit order across processes.
    const now = Date.now();
    return ops.map((op, index) => {
      checkOp(op, index);
      // Someone else's lease stops the write whatever version it is based on (SPEC 3.9).
      if (op.lock !== undefined) {
        if (!hooks.leases) throw new Error('this store cannot check leases');
        const locked = hooks.leases.check(op);
        if (locked !== undefined) refuse(index, locked);
      }
      // The row, not a Head: parsing a large document only to compare versions would be wasted.
      const current = st.headForWrite.get(op.collection, op.id);
      if (op.expectVersion !== null && (current?.version ?? 0) !== op.expectVersion) {
        return refuse(index, {
          reason: 'version-mismatch',
          current: current === undefined ? null : toHead(current),
        });
      }
      const live = current !== undefined && current.deleted === 0;
      const doc =
        op.increment !== undefined
          ? incremented(op.increment, index, live, current?.doc ?? null, () => toHead(current!))
          : op.doc;

      if (doc === null) {
        if (!live) throw new Error(`ops[${index}] deletes ${op.collection}/${op.id}, which does not exist.`);
        const referrers = referencedBy(st, op.collection, op.id);
        if (referrers.length > 0) refuse(index, { reason: 'still-referenced', referencedBy: referrers });
        releaseUniqueKeys(st, op.collection, op.id);
        dropReferences(st, op.collection, op.id);
        hooks.leases?.end(op.collection, op.id);
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
      const at = current === undefined ? (op.at ?? now) : Math.max(op.at ?? now, current.updated_at + 1);
      // A batch shows the tag and time of its staged writes before committing them (see WriteOp).
      const etag = op.etag ?? newEtag(version);
      const json = doc === null ? null : JSON.stringify(doc);
      const createdAt = kind === 'create' ? at : (current?.created_at ?? at);
      const { collection, id, actor } = op;
      // The change first: the head links to it. Its previous link is the old head's (schema.ts).
      const prevSeq = current?.last_seq ?? null;
      const seq = st.insertChange.run(
        collection,
        id,
        kind,
        version,
        etag,
        json,
        at,
        actor,
        createdAt,
        prevSeq,
      );
      // "Keep the newest N versions" raises the history floor; versions are contiguous.
      const historyFrom = Math.max(1, version - op.keepHistory + 1);
      const deleted = doc === null ? 1 : 0;
      st.upsertHead.run(
        collection,
        id,
        version,
        etag,
        deleted,
        json,
        createdAt,
        at,
        actor,
        seq.lastInsertRowid,
        historyFrom,
      );
      if (op.idempotency !== undefined) {
        if (!hooks.completeIdempotency) throw new Error('this store cannot complete idempotency keys');
        hooks.completeIdempotency(op.idempotency);
      }
      return {
        collection,
        id,
        version,
        etag,
        deleted: doc === null,
        // A copy, so that the caller mutating its input cannot change what it was told was stored.
        doc: json === null ? null : JSON.parse(json),
        createdAt,
        updatedAt: at,
        updatedBy: actor,
      };
    });
  };
}
