import type { CollectionConfig, StateMachine, StateValue, Transition } from '../config/types.js';
import { ProblemError } from '../http/problem-error.js';
import type { JsonObject, JsonValue } from '../store/types.js';

/** The state a document is in (undefined when the field is missing). */
export function stateOf(machine: StateMachine, doc: JsonObject | null): JsonValue | undefined {
  return doc && Object.hasOwn(doc, machine.field) ? doc[machine.field] : undefined;
}

/** Names of the transitions allowed from a state, in configuration order. */
export function allowedFrom(machine: StateMachine, state: JsonValue | undefined): string[] {
  return [...machine.transitions.values()].filter((t) => t.from.some((f) => f === state)).map((t) => t.name);
}

/** The 409 for a transition that is not allowed from the current state (SPEC 3.4). */
export function invalidTransition(
  collection: CollectionConfig,
  id: string,
  state: JsonValue | undefined,
  transition: string,
  detail?: string,
): ProblemError<'invalid-transition'> {
  const machine = collection.states!;
  const allowed = allowedFrom(machine, state);
  const here = state === undefined ? 'no state' : JSON.stringify(state);
  return new ProblemError(
    'invalid-transition',
    detail ??
      `${collection.name}/${id} is ${here}; "${transition}" is not allowed from there (allowed now: ${allowed.length ? allowed.join(', ') : 'none'}).`,
    { currentState: state ?? null, transition, allowedTransitions: allowed },
  );
}

/**
 * The transition a PUT or PATCH makes by writing the state field directly (SPEC 3.6): none when
 * the state does not change; the allowed transition to the new state; otherwise a 409. A new
 * document starts in the initial state (filled in when the field is left out).
 */
export function transitionOfWrite(
  collection: CollectionConfig,
  id: string,
  before: JsonObject | null,
  after: JsonObject,
): Transition | undefined {
  const machine = collection.states;
  if (!machine) return undefined;
  const next = stateOf(machine, after);
  if (before === null) {
    if (next !== undefined && next !== machine.initial) {
      throw new ProblemError(
        'invalid-transition',
        `A new ${collection.name} resource starts in state ${JSON.stringify(machine.initial)}, not ${JSON.stringify(next)}; create it, then use the transitions.`,
        { currentState: null, transition: `create as ${JSON.stringify(next)}`, allowedTransitions: [] },
      );
    }
    return undefined;
  }
  const current = stateOf(machine, before);
  if (next === current) return undefined;
  const candidates = [...machine.transitions.values()].filter((t) => t.to === next);
  const allowed = candidates.find((t) => t.from.some((f) => f === current));
  if (allowed) return allowed;
  const name = candidates[0]?.name ?? `set ${machine.field} to ${JSON.stringify(next ?? null)}`;
  throw invalidTransition(
    collection,
    id,
    current,
    name,
    `${collection.name}/${id} is ${JSON.stringify(current ?? null)}; it cannot become ${JSON.stringify(next ?? null)}${candidates.length ? ` ("${name}" is allowed only from ${candidates[0]!.from.map((f) => JSON.stringify(f)).join(', ')})` : ' (no transition leads there)'}.`,
  );
}

/** Fills in the initial state of a new document that leaves the field out. */
export function withInitialState(collection: CollectionConfig, doc: JsonObject): JsonObject {
  const machine = collection.states;
  if (!machine || Object.hasOwn(doc, machine.field)) return doc;
  return { ...doc, [machine.field]: machine.initial as StateValue };
}
