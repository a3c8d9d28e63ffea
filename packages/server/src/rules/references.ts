import type { CollectionConfig } from '../config/types.js';
import type { FieldError } from '../resources/validation.js';
import type { JsonObject, Reference } from '../store/types.js';
import { idProblem } from '../resources/ids.js';

/**
 * The references a document makes (a reference field holding an id), for the store to check and
 * index; undefined when the collection declares none. A missing or null field references nothing.
 */
export function referencesOf(collection: CollectionConfig, doc: JsonObject): Reference[] | undefined {
  if (collection.references.length === 0) return undefined;
  const refs: Reference[] = [];
  for (const { field, collection: target } of collection.references) {
    const value = Object.hasOwn(doc, field) ? doc[field] : undefined;
    if (typeof value === 'string') refs.push({ pointer: `/${field}`, collection: target, id: value });
  }
  return refs;
}

/** Reference fields must hold an id (a string with the id rules) or null. */
export function referenceErrors(collection: CollectionConfig, doc: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  for (const { field, collection: target } of collection.references) {
    const value = Object.hasOwn(doc, field) ? doc[field] : undefined;
    if (value === undefined || value === null) continue;
    const problem = idProblem(value);
    if (problem)
      errors.push({ pointer: `/${field}`, message: `must be the id of one of ${target} (${problem})` });
  }
  return errors;
}
