import { expect, it } from 'vitest';
import type {
  ChangeRecord,
  CommitResult,
  Head,
  JsonObject,
  Store,
  VersionRecord,
  WriteOp,
} from '../types.js';

/** Creates a fresh, empty store for one test. */
export type StoreFactory = () => Promise<Store> | Store;

/** Registers conformance tests; each gets its own fresh store, closed when the test ends. */
export interface Harness {
  test(name: string, body: (store: Store) => Promise<void>, timeoutMs?: number): void;
}

/** The collection most tests write to. */
export const C = 'things';

/**
 * A harness over `factory`, honouring `skip` (test name -> reason). The returned set collects every
 * registered name, so that the suite can reject skip entries that name no test (a typo would
 * otherwise silently run the test it meant to skip, or hide that a test was renamed).
 */
export function createHarness(
  factory: StoreFactory,
  skip: Readonly<Record<string, string>>,
): Harness & { readonly names: Set<string> } {
  const names = new Set<string>();
  return {
    names,
    test(name, body, timeoutMs) {
      if (names.has(name)) throw new Error(`Duplicate conformance test name: ${name}`);
      names.add(name);
      const reason = skip[name];
      if (reason !== undefined) {
        it.skip(`${name} (skipped: ${reason})`, () => {});
        return;
      }
      it(
        name,
        async () => {
          const store = await factory();
          try {
            await body(store);
          } finally {
            await store.close();
          }
        },
        timeoutMs,
      );
    },
  };
}

/** A write op on {@link C} with an actor of null and a history long enough for any test. */
export function op(
  id: string,
  expectVersion: WriteOp['expectVersion'],
  doc: JsonObject | null,
  extra: Partial<WriteOp> = {},
): WriteOp {
  return { collection: C, id, expectVersion, doc, actor: null, keepHistory: 1000, ...extra };
}

/** Commits and fails the test unless the commit succeeded; returns the new heads. */
export async function commitOk(store: Store, ops: readonly WriteOp[]): Promise<readonly Head[]> {
  const result: CommitResult = await store.commit(ops);
  if (!result.ok) throw new Error(`Expected the commit to succeed; op ${result.index}: ${result.reason}.`);
  expect(result.heads).toHaveLength(ops.length);
  return result.heads;
}

/** Writes `doc` (or deletes, for null) on top of whatever the URL holds now; returns the new head. */
export async function write(
  store: Store,
  id: string,
  doc: JsonObject | null,
  extra: Partial<WriteOp> = {},
): Promise<Head> {
  const current = await store.get(extra.collection ?? C, id);
  const [head] = await commitOk(store, [op(id, current?.version ?? 0, doc, extra)]);
  if (head === undefined) throw new Error('commit returned no head');
  return head;
}

/** Every change record, read in small pages to exercise `since`/`limit`. */
export async function allChanges(store: Store, collection?: string): Promise<ChangeRecord[]> {
  const out: ChangeRecord[] = [];
  for (;;) {
    const since = out[out.length - 1]?.seq ?? 0;
    const page = await store.changes({ since, limit: 7, collection });
    if (page.length === 0) return out;
    out.push(...page);
  }
}

/** Every retained history entry of a resource, newest first. */
export async function allHistory(store: Store, id: string, collection = C): Promise<VersionRecord[]> {
  return [...(await store.history(collection, id, { limit: 100_000 }))];
}

/**
 * Everything observable about some resources of `collection`, and the whole change feed, to check
 * that a failed commit wrote nothing (a write to any other resource shows in the feed).
 */
export async function snapshot(store: Store, ids: readonly string[], collection = C): Promise<unknown> {
  return {
    heads: await Promise.all(ids.map((id) => store.get(collection, id))),
    history: await Promise.all(ids.map((id) => allHistory(store, id, collection))),
    changes: await allChanges(store),
    lastSeq: await store.lastSeq(),
  };
}

/** Yields to other tasks for a random short while, so that concurrent writers really interleave. */
export function jitter(): Promise<void> {
  const r = Math.random();
  if (r < 0.5) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => setTimeout(resolve, r < 0.8 ? 0 : 2));
}

/** Compares strings by UTF-8 bytes, the order stores list ids in. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
