/**
 * Resolvers (SPEC 4): what `update` does when an edit and a concurrent one changed the same place
 * differently. A resolver is a strategy name or a function (sync or async, so a UI can ask the
 * person) that sees every conflict at once and answers with a strategy or the merged document.
 */
import {
  applyJsonPatch,
  getByPointer,
  type JsonObject,
  type JsonPatchOperation,
  type JsonValue,
} from '@truce/protocol';
import type { Resource } from '../types/documents.js';

/**
 * One place both sides changed differently. `base`, `ours` and `theirs` are the values at
 * `pointer` in the version the edit started from, in the edit, and now; a member is absent where
 * the value does not exist on that side. `changedBy` and `changedAt` say who wrote `theirs` and when
 * (as precisely as the server tells: per place with `Truce-Base`, else the last write).
 */
export interface Conflict {
  readonly pointer: string;
  readonly base?: JsonValue;
  readonly ours?: JsonValue;
  readonly theirs?: JsonValue;
  readonly changedBy: string | null;
  readonly changedAt: string | null;
}

/**
 * The built-in strategies:
 * - `'ours'`: at every conflict, the edit's value wins; everything else merges;
 * - `'theirs'`: at every conflict, the current value stays; the rest of the edit merges;
 * - `'rerun'` (the default): run the mutator again on the current version, as a read-modify-write
 *   loop does (what a counter or any value computed from the old one needs);
 * - `'abort'`: stop; `update` rejects with `TruceConflictError`, which lists the conflicts.
 */
export type ResolveStrategy = 'ours' | 'theirs' | 'rerun' | 'abort';

/** What a resolver function may answer: a strategy, or the whole merged document to write. */
export type Resolution<T> = ResolveStrategy | T | Resource<T>;

/** What a resolver function is given besides the conflicts. */
export interface ConflictContext<T> {
  readonly collection: string;
  readonly id: string;
  /** The version the edit was made on. */
  readonly base: Resource<T>;
  /** The edit (the mutator's result, or the last resolution). */
  readonly ours: T;
  /** The current version. */
  readonly theirs: Resource<T>;
  /** The three-way merge with every conflict resolved to theirs: a starting point. */
  readonly merged: T;
  /** The conflict round, from 1. */
  readonly round: number;
  /** Aborts when the update's signal or deadline does. */
  readonly signal: AbortSignal;
  /**
   * The merged document with a choice per conflict pointer: `'ours'`, `'theirs'`, or
   * `{ value }` for a value of the caller's own. Pointers not named stay theirs.
   */
  choose(choices: { readonly [pointer: string]: 'ours' | 'theirs' | { readonly value: JsonValue } }): T;
}

/** A resolver: a strategy, or a function deciding from every conflict at once. */
export type Resolver<T> =
  | ResolveStrategy
  | ((conflicts: readonly Conflict[], context: ConflictContext<T>) => Resolution<T> | Promise<Resolution<T>>);

/**
 * `merged` with the value at each pointer set as `choices` say. A value is put where the pointer
 * points in theirs (the merge result's layout); a side that has no value there removes it.
 */
export function applyChoices(
  merged: JsonObject,
  conflicts: readonly Conflict[],
  choices: (conflict: Conflict) => 'ours' | 'theirs' | { readonly value: JsonValue },
): JsonObject {
  let doc: JsonValue = merged;
  for (const conflict of conflicts) {
    const choice = choices(conflict);
    if (choice === 'theirs') continue;
    const value = choice === 'ours' ? conflict.ours : choice.value;
    const operation = setAt(doc, conflict.pointer, value);
    if (operation === undefined) continue;
    const next = applyJsonPatch(doc, [operation]);
    // A place whose parent the merge removed cannot take a value; the merged value stays there.
    if (next.ok) doc = next.value;
  }
  return doc as JsonObject;
}

function setAt(
  doc: JsonValue,
  pointer: string,
  value: JsonValue | undefined,
): JsonPatchOperation | undefined {
  const exists = getByPointer(doc, pointer).found;
  if (value === undefined) return exists ? { op: 'remove', path: pointer } : undefined;
  return exists ? { op: 'replace', path: pointer, value } : { op: 'add', path: pointer, value };
}
