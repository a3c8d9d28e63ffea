import { parsePointer } from '@truce/protocol';
import type { JsonObject, JsonValue } from '../store/types.js';

/** What the schema says about the number an `_increment` changes. */
export interface NumberSchema {
  readonly minimum?: number | undefined;
  readonly maximum?: number | undefined;
  readonly exclusiveMinimum?: number | undefined;
  readonly exclusiveMaximum?: number | undefined;
  readonly integer: boolean;
  /**
   * True when the schema of the number says nothing beyond its type and bounds, so the store can
   * apply the increment blindly to whatever version is current and check only the bounds.
   */
  readonly boundsOnly: boolean;
}

const BOUND_KEYWORDS = new Set([
  'type',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'title',
  'description',
  'default',
  'examples',
  '$comment',
]);

/**
 * Keywords of an object schema on the way to the number that no change of that number can break:
 * anything else (`dependentRequired`, `if`, `allOf`, `maxProperties`, ...) may depend on it, so the
 * whole document must be validated.
 */
const PLAIN_OBJECT_KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'title',
  'description',
  'default',
  'examples',
  '$comment',
  '$schema',
  '$id',
]);

/**
 * Finds the subschema at `pointer` by walking `properties` and `items`; undefined when the schema
 * does not describe that location plainly (then the caller validates the whole document).
 */
export function numberSchemaAt(schema: JsonObject | undefined, pointer: string): NumberSchema | undefined {
  if (!schema) return { integer: false, boundsOnly: true };
  let node: JsonValue | undefined = schema;
  let plainPath = true;
  for (const token of parsePointer(pointer)) {
    if (!isObject(node)) return undefined;
    plainPath &&= Object.keys(node).every((k) => PLAIN_OBJECT_KEYWORDS.has(k));
    const props: JsonValue | undefined = node['properties'];
    const items: JsonValue | undefined = node['items'];
    if (isObject(props) && Object.hasOwn(props, token)) node = props[token];
    else if (/^(0|[1-9][0-9]*)$/.test(token) && isObject(items)) node = items;
    else return undefined;
  }
  if (!isObject(node)) return undefined;
  const type = node['type'];
  const num = (k: string) => (typeof node[k] === 'number' ? (node[k] as number) : undefined);
  return {
    minimum: num('minimum'),
    maximum: num('maximum'),
    exclusiveMinimum: num('exclusiveMinimum'),
    exclusiveMaximum: num('exclusiveMaximum'),
    integer: type === 'integer',
    boundsOnly:
      (type === 'integer' || type === 'number') && Object.keys(node).every((k) => BOUND_KEYWORDS.has(k)),
  };
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
