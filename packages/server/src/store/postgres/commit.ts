import { newEtag } from '../etag.js';
import { sameToken } from '../records.js';
import { checkOp, incremented, referencesByPointer, type Refusal, refuse } from '../refusal.js';
import type {
  Head,
  JsonObject,
  Rebased,
  Reference,
  ReferencedBy,
  UniqueKey,
  VersionRecord,
  WriteOp,
} from '../types.js';
import { escapeNul, type Queryable, run, toHead, type WriteHeadRow } from './rows.js';
import type { Statements } from './statements.js';

/*
 * One commit on PostgreSQL, inside a READ COMMITTED transaction the caller holds (postgres-store.ts
 * retries it on deadlocks and rolls it back on a refusal).
 *
 * Where SQLite has one write lock for the whole database, PostgreSQL runs transactions side by side,
 * so every check that a write depends on is made under a row lock that the conflicting writer must
 * take too:
 * - The head of each written resource is locked FOR UPDATE before its version is compared, so the
 *   compare-and-set cannot be overtaken. A URL without a row gets a placeholder row (version 0,
 *   never committed): two creators of one id then meet on the primary key, and the second, once the
 *   first commits, finds the row and reports the version mismatch.
 * - A lease is checked after that lock; `lease()` takes the same lock, so of a write and a lease on
 *   one resource, whichever locks first is seen by the other.
 * - Reference targets are locked FOR SHARE; a delete holds FOR UPDATE on what it deletes. Of a
 *   referrer and a delete of its target, the second waits for the first and then sees its rows: the
 *   referrer finds the tombstone (dangling), or the delete finds the new reference (still referenced).
 * - Unique keys are claimed by inserting them; the primary key makes the second inserter wait for
 *   the first and then find the key taken. No "look, then insert".
 * Lock waits that form a cycle are PostgreSQL deadlocks (40P01), which the caller retries.
 *
 * Heads and changes are written last, in one statement that also takes the change sequence numbers
 * (statements.ts, `finish`; feed.ts says how readers of the feed wait for the numbers still in
 * flight). Until then, later ops of the same commit see earlier ones through `pending`.
 */

/** How many times a unique key is claimed again when its holder vanished between two statements. */
const CLAIM_ATTEMPTS = 16;

/** A head as the commit knows it: locked, possibly already rewritten by an earlier op (`ord`). */
interface Known extends WriteHeadRow {
  /** 1-based ordinal of the op of this commit that wrote this state; undefined: the committed row. */
  readonly ord?: number | undefined;
}

interface ChangeOut {
  collection: string;
  id: string;
  op: VersionRecord['op'];
  version: number;
  etag: string;
  doc: string | null;
  at: number;
  by: string | null;
  createdAt: number;
  prevSeq: number | null;
  prevOrd: number | null;
}

const keyOf = (collection: string, id: string) => `${collection.length}:${collection}/${id}`;

/** Applies `ops` in the caller's transaction; returns the new heads or throws `Refused`. */
export async function applyOps(
  db: Queryable,
  st: Statements,
  ops: readonly WriteOp[],
  channel: string,
): Promise<Head[]> {
  const pending = new Map<string, Known>();
  const changes: ChangeOut[] = [];
  const heads: Head[] = [];

  for (const [index, given] of ops.entries()) {
    let op = given;
    checkOp(op, index);
    const key = keyOf(op.collection, op.id);
    const current = pending.get(key) ?? (await lockHead(db, st, op));
    const known = current !== undefined && current.version > 0 ? current : undefined;

    // Someone else's lease stops the write whatever version it is based on (SPEC 3.9).
    if (op.lock !== undefined && known !== undefined) {
      const locked = await leaseRefusal(db, st, op);
      if (locked !== undefined) refuse(index, locked);
    }
    if (op.expectVersion !== null && (known?.version ?? 0) !== op.expectVersion) {
      op = await rebased(op, index, known, false);
    }
    const live = known !== undefined && !known.deleted;
    const doc =
      op.increment !== undefined
        ? incremented(op.increment, index, live, known?.doc ?? null, () => toHead(known!))
        : op.doc;

    if (doc === null) {
      if (!live) throw new Error(`ops[${index}] deletes ${op.collection}/${op.id}, which does not exist.`);
      const referrers = await referencedBy(db, st, op.collection, op.id);
      if (referrers.length > 0) refuse(index, { reason: 'still-referenced', referencedBy: referrers });
      await run(db, st.releaseAll, [op.collection, op.id]);
    } else {
      if (op.references !== undefined) {
        const dangling = await danglingReference(db, st, op, pending);
        if (dangling !== undefined) refuse(index, dangling);
      }
      if (op.uniqueKeys !== undefined) {
        const violation = await replaceUniqueKeys(db, st, op, op.uniqueKeys);
        if (violation !== undefined) refuse(index, violation);
      }
      if (op.references !== undefined) await replaceReferences(db, st, op, op.references);
    }

    const head = record(op, doc, known, current, pending, changes);
    if (op.idempotency !== undefined) {
      const { scope, key: idempotencyKey, response } = op.idempotency;
      await run(db, st.completeIdempotency, [
        escapeNul(scope),
        escapeNul(idempotencyKey),
        response.status,
        JSON.stringify(response.headers),
        response.body === null ? null : escapeNul(response.body),
      ]);
    }
    heads.push(head);
  }

  if (changes.length > 0) await finish(db, st, changes, [...pending.values()], channel);
  return heads;
}

/**
 * Records what `op` writes (`doc`, null for a delete) on top of `known` (the live or deleted head,
 * undefined when the URL never held anything; `current` also counts a placeholder): the change to
 * append, the head as the commit now knows it in `pending`, and the head to answer.
 */
function record(
  op: WriteOp,
  doc: JsonObject | null,
  known: Known | undefined,
  current: Known | undefined,
  pending: Map<string, Known>,
  changes: ChangeOut[],
): Head {
  const live = known !== undefined && !known.deleted;
  // Read after the head's lock is held, so that times follow commit order on one resource.
  const now = Date.now();
  const version = (known?.version ?? 0) + 1;
  const kind: VersionRecord['op'] = doc === null ? 'delete' : live ? 'update' : 'create';
  // Never let a resource's clock run backwards (clock steps, several processes, one millisecond).
  const at = known === undefined ? (op.at ?? now) : Math.max(op.at ?? now, known.updated_at + 1);
  const etag = op.etag ?? newEtag(version);
  const json = doc === null ? null : JSON.stringify(doc);
  const createdAt = kind === 'create' ? at : (known?.created_at ?? at);
  const ord = changes.length + 1;
  changes.push({
    collection: op.collection,
    id: op.id,
    op: kind,
    version,
    etag,
    doc: json,
    at,
    by: op.actor,
    createdAt,
    prevSeq: known?.ord === undefined ? (known?.last_seq ?? null) : null,
    prevOrd: known?.ord ?? null,
  });
  pending.set(keyOf(op.collection, op.id), {
    collection: op.collection,
    id: op.id,
    version,
    etag,
    deleted: doc === null,
    doc: json,
    created_at: createdAt,
    updated_at: at,
    updated_by: op.actor,
    last_seq: null,
    history_from: Math.max(current?.history_from ?? 1, version - op.keepHistory + 1),
    ord,
  });
  return {
    collection: op.collection,
    id: op.id,
    version,
    etag,
    deleted: doc === null,
    // A copy, so that the caller mutating its input cannot change what it was told was stored.
    doc: json === null ? null : (JSON.parse(json) as JsonObject),
    createdAt,
    updatedAt: at,
    updatedBy: op.actor,
  };
}

/**
 * Whether a commit of `op` alone can join the batched path of {@link applySimpleOps}: a whole new
 * document or an increment of a resource that exists or is expected to (not a create, which needs
 * its URL claimed), checked by version and lease only, with nothing else to write.
 */
export function isSimple(op: WriteOp): boolean {
  return (
    (op.doc !== null || op.increment !== undefined) &&
    op.expectVersion !== 0 &&
    op.uniqueKeys === undefined &&
    op.references === undefined &&
    op.idempotency === undefined
  );
}

/** A head row with the live lease mirrored on it (schema.ts, migration 2). */
interface LockedHead extends WriteHeadRow {
  readonly lease_token: string | null;
  readonly lease_owner: string | null;
  readonly lease_expires_at: number | null;
}

/**
 * Many simple commits of one op each ({@link isSimple}) in two statements whatever their number:
 * every head they touch is locked in one statement, in key order (so two groups, of this process
 * or another, cannot deadlock on them); each op is checked and applied in order against what the
 * ops before it left; and one `finish` writes every change and head. An op that is refused has
 * written nothing, so none needs a savepoint. Returns, per op, its new head or the error that
 * refused it ({@link Refused}) or that it threw.
 */
export async function applySimpleOps(
  db: Queryable,
  st: Statements,
  ops: readonly WriteOp[],
  channel: string,
): Promise<(Head | Error)[]> {
  const wanted = new Map<string, WriteOp>();
  for (const op of ops) wanted.set(keyOf(op.collection, op.id), op);
  const rows = await run<LockedHead>(db, st.lockHeads, [
    [...wanted.values()].map((op) => op.collection),
    [...wanted.values()].map((op) => op.id),
  ]);
  const locked = new Map<string, LockedHead>();
  for (const row of rows) locked.set(keyOf(row.collection, row.id), row);

  const pending = new Map<string, Known>();
  const changes: ChangeOut[] = [];
  const results: (Head | Error)[] = [];
  for (let op of ops) {
    try {
      checkOp(op, 0);
      const key = keyOf(op.collection, op.id);
      const row = locked.get(key);
      const current: Known | undefined = pending.get(key) ?? row;
      const known = current !== undefined && current.version > 0 ? current : undefined;
      // The lease as the head row mirrors it; a lease call takes the same row lock.
      const lease = row?.lease_token ?? null;
      if (
        op.lock !== undefined &&
        known !== undefined &&
        lease !== null &&
        !sameToken(lease, op.lock.token)
      ) {
        const until = row!.lease_expires_at ?? 0;
        if (until > op.lock.now) refuse(0, { reason: 'locked', owner: row!.lease_owner, expiresAt: until });
      }
      if (op.expectVersion !== null && (known?.version ?? 0) !== op.expectVersion) {
        op = await rebased(op, 0, known, true);
      }
      const live = known !== undefined && !known.deleted;
      const doc =
        op.increment !== undefined
          ? incremented(op.increment, 0, live, known?.doc ?? null, () => toHead(known!))
          : op.doc;
      // No row to rewrite: an unconditional write to a URL that never held anything.
      if (current === undefined) throw new Error(`${op.collection}/${op.id} does not exist.`);
      results.push(record(op, doc, known, current, pending, changes));
    } catch (error) {
      results.push(error as Error);
    }
  }
  if (changes.length > 0) await finish(db, st, changes, [...pending.values()], channel);
  return results;
}

/**
 * The op to apply instead of `op`, whose expected version is not `known`'s (the locked head as this
 * commit knows it): `op.rebase` remade on that head (types.ts, WriteOp.rebase). Refuses with
 * `version-mismatch`, as without a rebase, when `op` has none, or when what it returns cannot be
 * applied where `op` could (`simple`: on the batched path, which writes documents only; anywhere: a
 * create, which must claim its URL, or unique keys and references that `op` did not declare,
 * which the statements run for it would not write).
 *
 * Also when the rebase throws: a write that fails on this head is refused by its caller's next
 * round, after this commit, when everything the problem reports is committed. Here, what earlier
 * ops of this transaction wrote is not yet visible to the caller's reads (the history an
 * edit-conflict names its authors from, say), so a problem made here could say less than the truth.
 */
async function rebased(
  op: WriteOp,
  index: number,
  known: Known | undefined,
  simple: boolean,
): Promise<WriteOp> {
  const head = known === undefined ? null : toHead(known);
  const mismatch = () => refuse(index, { reason: 'version-mismatch', current: head });
  if (op.rebase === undefined || known === undefined || op.increment !== undefined) return mismatch();
  let remade: Rebased;
  try {
    remade = await op.rebase(head);
  } catch {
    return mismatch();
  }
  const next: WriteOp = {
    ...op,
    expectVersion: known.version,
    doc: remade.doc,
    uniqueKeys: remade.uniqueKeys,
    references: remade.references,
  };
  const fits =
    (op.uniqueKeys !== undefined || next.uniqueKeys === undefined) &&
    (op.references !== undefined || next.references === undefined) &&
    (!simple || isSimple(next));
  return fits ? next : mismatch();
}

/**
 * Locks the head of `op`'s resource and returns it; undefined when the URL holds nothing. A create
 * (expected version 0) claims the URL with a placeholder row, so that a concurrent creator waits.
 */
async function lockHead(db: Queryable, st: Statements, op: WriteOp): Promise<Known | undefined> {
  for (;;) {
    const [row] = await run<WriteHeadRow>(db, st.lockHead, [op.collection, op.id]);
    if (row !== undefined || op.expectVersion !== 0) return row;
    const claimed = await run(db, st.placeholderHead, [op.collection, op.id]);
    if (claimed.length === 1) return undefined;
    // Another transaction created the row and committed while this one waited: lock that row.
  }
}

async function leaseRefusal(db: Queryable, st: Statements, op: WriteOp): Promise<Refusal | undefined> {
  const lock = op.lock;
  if (lock === undefined) return undefined;
  const [row] = await run<{ token: string | null; owner: string | null; expires_at: number }>(
    db,
    st.leaseOf,
    [op.collection, op.id],
  );
  if (row === undefined || row.token === null || row.expires_at <= lock.now) return undefined;
  if (sameToken(row.token, lock.token)) return undefined;
  return { reason: 'locked', owner: row.owner, expiresAt: row.expires_at };
}

/** Who still references a resource about to be deleted (itself aside), per collection. */
async function referencedBy(
  db: Queryable,
  st: Statements,
  collection: string,
  id: string,
): Promise<ReferencedBy[]> {
  const rows = await run<{ collection: string; count: number; examples: string[] }>(db, st.referrers, [
    collection,
    id,
  ]);
  return rows.map((r) => ({ collection: r.collection, count: r.count, examples: r.examples }));
}

/**
 * The first reference of `op`, in order, whose target is absent or deleted at this point of the
 * commit. Targets this commit already wrote are judged by what it wrote; the others are locked
 * FOR SHARE (see the top of this file). A resource referring to itself is not dangling.
 */
async function danglingReference(
  db: Queryable,
  st: Statements,
  op: WriteOp,
  pending: ReadonlyMap<string, Known>,
): Promise<Refusal | undefined> {
  const refs = (op.references ?? []).filter((r) => !(r.collection === op.collection && r.id === op.id));
  const outside = refs.filter((r) => !pending.has(keyOf(r.collection, r.id)));
  const live = new Set<string>();
  if (outside.length > 0) {
    const rows = await run<{ collection: string; id: string; deleted: boolean }>(db, st.targets, [
      outside.map((r) => r.collection),
      outside.map((r) => r.id),
    ]);
    for (const row of rows) if (!row.deleted) live.add(keyOf(row.collection, row.id));
  }
  for (const { pointer, collection, id } of refs) {
    const key = keyOf(collection, id);
    const mine = pending.get(key);
    const ok = mine !== undefined ? mine.version > 0 && !mine.deleted : live.has(key);
    if (!ok) return { reason: 'dangling-reference', reference: { pointer, collection, id } };
  }
  return undefined;
}

/** A unique key as one string, the same for the same key only (lengths keep the parts apart). */
export const entryOf = (constraint: string, key: string) => `${constraint.length}:${constraint}${key}`;

/**
 * Replaces the keys `op`'s resource holds with `keys` (a set); the refusal names the first key, in
 * the given order, that another resource holds.
 */
async function replaceUniqueKeys(
  db: Queryable,
  st: Statements,
  op: WriteOp,
  keys: readonly UniqueKey[],
): Promise<Refusal | undefined> {
  const held = new Map<string, UniqueKey>();
  for (const k of await run<UniqueKey>(db, st.uniqueKeysOf, [op.collection, op.id])) {
    held.set(entryOf(k.constraint, k.key), k);
  }
  const wanted = new Set(keys.map((k) => entryOf(k.constraint, k.key)));
  const released = [...held].filter(([entry]) => !wanted.has(entry)).map(([, k]) => k);
  if (released.length > 0) {
    await run(db, st.deleteUniqueKeys, [
      op.collection,
      op.id,
      released.map((k) => k.constraint),
      released.map((k) => k.key),
    ]);
  }
  const claimed = new Set<string>();
  for (const { constraint, key } of keys) {
    const entry = entryOf(constraint, key);
    if (held.has(entry) || claimed.has(entry)) continue;
    claimed.add(entry);
    const holder = await claimKey(db, st, op, constraint, key);
    if (holder !== op.id) return { reason: 'unique-violation', constraint, key, holder };
  }
  return undefined;
}

/** Inserts one key; resolves with the id holding it afterwards (op's own id when the insert won). */
async function claimKey(
  db: Queryable,
  st: Statements,
  op: WriteOp,
  constraint: string,
  key: string,
): Promise<string> {
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const inserted = await run(db, st.insertUniqueKey, [op.collection, constraint, key, op.id]);
    if (inserted.length === 1) return op.id;
    const [holder] = await run<{ id: string }>(db, st.uniqueKeyHolder, [op.collection, constraint, key]);
    if (holder !== undefined) return holder.id;
    // The holder let go of the key between the two statements: claim it again.
  }
  throw new Error(`The unique key ${constraint} of ${op.collection}/${op.id} kept changing hands.`);
}

/**
 * Replaces the outgoing references of `op`'s resource with `refs`, one row per pointer, writing only
 * the rows that change.
 *
 * @throws RangeError when two references share a pointer but name different targets.
 */
async function replaceReferences(
  db: Queryable,
  st: Statements,
  op: WriteOp,
  refs: readonly Reference[],
): Promise<void> {
  const held = new Map<string, { to_collection: string; to_id: string }>();
  for (const row of await run<{ pointer: string; to_collection: string; to_id: string }>(db, st.refsFrom, [
    op.collection,
    op.id,
  ])) {
    held.set(row.pointer, row);
  }
  const wanted = referencesByPointer(op, refs);
  const dropped = [...held.keys()].filter((pointer) => !wanted.has(pointer));
  if (dropped.length > 0) await run(db, st.deleteRefs, [op.collection, op.id, dropped]);
  const changed = [...wanted.values()].filter((ref) => {
    const row = held.get(ref.pointer);
    return row?.to_collection !== ref.collection || row.to_id !== ref.id;
  });
  if (changed.length > 0) {
    await run(db, st.upsertRefs, [
      op.collection,
      op.id,
      changed.map((r) => r.pointer),
      changed.map((r) => r.collection),
      changed.map((r) => r.id),
    ]);
  }
}

/** Appends the changes and rewrites the heads (the last state of each), taking the seqs. */
async function finish(
  db: Queryable,
  st: Statements,
  changes: readonly ChangeOut[],
  heads: readonly Known[],
  channel: string,
): Promise<void> {
  const [row] = await run<{ rewritten: number }>(db, st.finish, [
    changes.length,
    changes.map((c) => c.collection),
    changes.map((c) => c.id),
    changes.map((c) => c.op),
    changes.map((c) => c.version),
    changes.map((c) => c.etag),
    changes.map((c) => c.doc),
    changes.map((c) => c.at),
    changes.map((c) => c.by),
    changes.map((c) => c.createdAt),
    changes.map((c) => c.prevSeq),
    changes.map((c) => c.prevOrd),
    heads.map((h) => h.collection),
    heads.map((h) => h.id),
    heads.map((h) => h.version),
    heads.map((h) => h.etag),
    heads.map((h) => h.deleted),
    heads.map((h) => h.doc),
    heads.map((h) => h.created_at),
    heads.map((h) => h.updated_at),
    heads.map((h) => h.updated_by),
    heads.map((h) => h.ord),
    heads.map((h) => h.history_from),
    channel,
  ]);
  // Every head row was locked (or claimed) by this transaction, so all of them must be there.
  if (row?.rewritten !== heads.length) {
    throw new Error(`The commit rewrote ${row?.rewritten ?? 0} of ${heads.length} heads.`);
  }
}
