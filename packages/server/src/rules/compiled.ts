import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import type { CollectionConfig, Rule } from '../config/types.js';

// ajv-formats ships CommonJS with `exports.default`; under NodeNext the default import is the module object.
const addFormats = (formatsModule as unknown as { default: (ajv: Ajv2020) => Ajv2020 }).default;

/** A collection's schemas compiled once at start-up. */
export interface CompiledCollection {
  readonly schema: ValidateFunction | undefined;
  /** Guard of each transition that has one, by transition name. */
  readonly guards: ReadonlyMap<string, ValidateFunction>;
  readonly rules: readonly { readonly rule: Rule; readonly validate: ValidateFunction }[];
}

/** Compiles the schema, guards and rules of every collection. */
export function compileCollections(collections: Iterable<CollectionConfig>): Map<string, CompiledCollection> {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const compiled = new Map<string, CompiledCollection>();
  for (const c of collections) {
    const guards = new Map<string, ValidateFunction>();
    for (const t of c.states?.transitions.values() ?? [])
      if (t.guard) guards.set(t.name, ajv.compile(t.guard));
    compiled.set(c.name, {
      schema: c.schema ? ajv.compile(c.schema) : undefined,
      guards,
      rules: c.rules.map((rule) => ({ rule, validate: ajv.compile(rule.schema) })),
    });
  }
  return compiled;
}
