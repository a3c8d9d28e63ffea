import type { CollectionConfig, StateMachine, Transition } from '../config/types.js';
import { ProblemError } from '../shared/problem-error.js';
import type { ResourceContext } from '../resources/context.js';
import { provenance } from '../resources/representation.js';
import { latestLink } from '../resources/stale.js';
import type { Head, JsonObject, JsonValue } from '../store/types.js';

/**
 * The state a stored document is in. A document without the field (written before the collection
 * had a state machine) is in the initial state, so it can still move.
 */
export function stateOf(machine: StateMachine, doc: JsonObject | null): JsonValue | undefined {
  if (doc === null) return undefined;
  return Object.hasOwn(doc, machine.field) ? doc[machine.field] : machine.initial;
}

/** Names of the transitions allowed from a state, in configuration order. */
export function allowedFrom(machine: StateMachine, state: JsonValue | undefined): string[] {
  return [...machine.transitions.values()].filter((t) => t.from.some((f) => f === state)).map((t) => t.name);
}

/** The 409 for a transition that is not allowed from the current state (SPEC 3.4). */
export function invalidTransition(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  current: Head | null,
  transition: string,
  detail?: string,
): ProblemError<'invalid-transition'> {
  const machine = collection.states!;
  const state = stateOf(machine, current?.doc ?? null);
  const allowed = allowedFrom(machine, state);
  const since = current
    ? ` since ${new Date(current.updatedAt).toISOString()}${current.updatedBy ? ` (${current.updatedBy})` : ''}`
    : '';
  return new ProblemError(
    'invalid-transition',
    detail ??
      `${collection.name}/${id} is in state ${JSON.stringify(state ?? null)}${since}; "${transition}" is not allowed from there (allowed now: ${allowed.length ? allowed.join(', ') : 'none'}).`,
    { currentState: state ?? null, transition, allowedTransitions: allowed, ...provenance(current) },
    latestLink(ctx, collection.name, id),
  );
}

/**
 * The transition a PUT or PATCH makes by writing the state field directly (SPEC 3.6): none when
 * the state does not change; the allowed transition to the new state; otherwise the 409 refusing
 * it, returned rather than thrown so that the write's other rules can be reported with it. A new
 * document starts in the initial state.
 */
export function transitionOfWrite(
  ctx: ResourceContext,
  collection: CollectionConfig,
  id: string,
  current: Head | null,
  after: JsonObject,
): { readonly transition?: Transition; readonly refused?: ProblemError<'invalid-transition'> } {
  const machine = collection.states;
  if (!machine) return {};
  const next = Object.hasOwn(after, machine.field) ? after[machine.field] : undefined;
  if (current === null) {
    if (next === machine.initial) return {};
    const refused = new ProblemError(
      'invalid-transition',
      `A new ${collection.name} resource starts in state ${JSON.stringify(machine.initial)}, not ${JSON.stringify(next ?? null)}; create it, then use the transitions.`,
      {
        currentState: null,
        transition: `create as ${JSON.stringify(next ?? null)}`,
        allowedTransitions: [],
        ...provenance(null),
      },
    );
    return { refused };
  }
  const state = stateOf(machine, current.doc);
  if (next === state) return {};
  const candidates = [...machine.transitions.values()].filter((t) => t.to === next);
  const allowed = candidates.find((t) => t.from.some((f) => f === state));
  if (allowed) return { transition: allowed };
  const name = candidates[0]?.name ?? `set ${machine.field} to ${JSON.stringify(next ?? null)}`;
  const why = candidates.length
    ? `"${name}" is allowed only from ${candidates[0]!.from.map((f) => JSON.stringify(f)).join(', ')}`
    : 'no transition leads there';
  const refused = invalidTransition(
    ctx,
    collection,
    id,
    current,
    name,
    `${collection.name}/${id} is in state ${JSON.stringify(state ?? null)}; it cannot become ${JSON.stringify(next ?? null)} (${why}).`,
  );
  return { refused };
}

/**
 * A replacement document keeps the state it does not mention: the current state for an update, the
 * initial one for a create. The state changes only when the document names a new one.
 */
export function withState(collection: CollectionConfig, current: Head | null, doc: JsonObject): JsonObject {
  const machine = collection.states;
  if (!machine || Object.hasOwn(doc, machine.field)) return doc;
  const state = current ? stateOf(machine, current.doc) : machine.initial;
  return { ...doc, [machine.field]: state as JsonValue };
}
