import { formatPointer } from '@truce/protocol';
import type { CollectionConfig } from '../config/types.js';
import type { JsonObject } from '../store/types.js';

/**
 * The collection's JSON Schema as clients see it: the configured schema, annotated with what else
 * constrains a write (`x-truce-*`): the state machine, unique constraints, references and rules;
 * and how `Truce-Base` edits merge (`x-truce-merge`), so that clients can merge as the server does.
 */
export function collectionSchema(collection: CollectionConfig): JsonObject {
  const machine = collection.states;
  const annotations: JsonObject = {};
  if (machine) annotations['x-truce-states'] = stateMachineDescription(collection);
  if (collection.unique.length > 0) {
    annotations['x-truce-unique'] = collection.unique.map((u) => ({
      name: u.name,
      fields: [...u.fields],
      caseInsensitive: u.caseInsensitive,
    }));
  }
  if (collection.references.length > 0) {
    annotations['x-truce-references'] = Object.fromEntries(
      collection.references.map((r) => [r.field, r.collection]),
    );
  }
  if (collection.rules.length > 0) {
    annotations['x-truce-rules'] = collection.rules.map((r) => ({
      name: r.name,
      message: r.message,
      schema: r.schema,
    }));
  }
  const merge = mergeDescription(collection);
  if (merge !== undefined) annotations['x-truce-merge'] = merge;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: collection.name,
    ...(collection.description ? { description: collection.description } : {}),
    ...(collection.schema ?? { type: 'object' }),
    ...annotations,
  };
}

/** The state machine as data: every state, the initial one, and each transition. */
export function stateMachineDescription(collection: CollectionConfig): JsonObject {
  const machine = collection.states!;
  const states = new Set<string | number | boolean>([machine.initial]);
  for (const t of machine.transitions.values()) {
    t.from.forEach((f) => states.add(f));
    states.add(t.to);
  }
  return {
    field: machine.field,
    initial: machine.initial,
    states: [...states],
    transitions: Object.fromEntries(
      [...machine.transitions.values()].map((t) => [
        t.name,
        {
          from: [...t.from],
          to: t.to,
          ...(t.guard ? { guard: t.guard } : {}),
          ...(t.description ? { description: t.description } : {}),
        },
      ]),
    ),
  };
}

/** The collection's `merge` option as configured (SPEC 2), or undefined when it has none. */
function mergeDescription(collection: CollectionConfig): JsonObject | undefined {
  const { arrays, text } = collection.merge;
  if (arrays.length === 0 && text.length === 0) return undefined;
  return {
    ...(arrays.length > 0
      ? { arrays: Object.fromEntries(arrays.map((rule) => [formatPointer(rule.tokens), rule.key])) }
      : {}),
    ...(text.length > 0 ? { text: text.map((rule) => formatPointer(rule.tokens)) } : {}),
  };
}
