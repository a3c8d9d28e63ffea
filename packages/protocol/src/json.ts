/**
 * JSON value types and the few operations every other module builds on.
 *
 * Documents here come from untrusted clients, so nothing in this package reads or writes a member
 * without checking that it is an own property: `{}.__proto__` and `{}.constructor` exist on every
 * plain object, and a careless `target[key] = value` with `key === '__proto__'` would replace the
 * prototype instead of adding a member.
 */

/** A JSON scalar: what `JSON.parse` returns for anything that is not an array or an object. */
export type JsonPrimitive = null | boolean | number | string;

/** Any value `JSON.parse` can return. */
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object (never an array, never `null`). */
export type JsonObject = { [key: string]: JsonValue };

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/**
 * Whether `value` is a plain JSON object: not `null`, not an array, and not a class instance such
 * as `Date` or `Map`.
 *
 * Objects with a `null` prototype and objects from another realm (an iframe) count as plain.
 */
export function isJsonObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  // Another realm's Object.prototype is not ours, but its own prototype is null all the same.
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/**
 * Structural equality with JSON semantics: numbers compare by value (`1` equals `1.0`, `0` equals
 * `-0`), arrays compare element by element, and objects compare by their sets of own members,
 * whatever the order of their keys.
 */
export function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => deepEqual(item, b[i] as JsonValue));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => hasOwn(b, key) && deepEqual(a[key] as JsonValue, b[key] as JsonValue));
  }
  return false;
}

/**
 * A deep copy of a JSON value that shares nothing with the original, so the copy can be changed
 * freely. Members named `__proto__` are copied as ordinary own members.
 *
 * Only JSON data is supported: class instances are copied as plain objects of their own
 * enumerable members, and primitives are returned as they are.
 */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => cloneJson(item)) as T;
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      defineMember(copy, key, cloneJson((value as Record<string, unknown>)[key]));
    }
    return copy as T;
  }
  return value;
}

/**
 * Adds or overwrites an own, enumerable member. Unlike `target[key] = value`, this never invokes the
 * `__proto__` setter inherited from `Object.prototype`, so a client-chosen key cannot change the
 * object's prototype.
 *
 * @internal Not re-exported from the package entry point.
 */
export function defineMember(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Reads an own member, or `undefined` when there is none (inherited members such as `constructor`
 * do not count).
 *
 * @internal Not re-exported from the package entry point.
 */
export function ownMember(target: JsonObject, key: string): JsonValue | undefined {
  return hasOwn(target, key) ? target[key] : undefined;
}

/**
 * Whether `target` has an own member named `key`.
 *
 * @internal Not re-exported from the package entry point.
 */
export function hasMember(target: object, key: string): boolean {
  return hasOwn(target, key);
}

/**
 * Whether `value` is JSON data all the way down: no `undefined`, functions, symbols, bigints,
 * non-finite numbers or class instances (which `JSON.stringify` would silently drop or mangle).
 *
 * @internal Not re-exported from the package entry point.
 */
export function isJsonValue(value: unknown): value is JsonValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(isJsonValue);
      return isJsonObject(value) && Object.values(value).every(isJsonValue);
    default:
      return false;
  }
}

/**
 * Whether a member named `key`, in an object that is itself the member `parentKey` of its parent
 * (`undefined` at the root or inside an array), is one Truce never stores: `__proto__` anywhere,
 * and `prototype` directly inside a member named `constructor`. Code that copies JSON with plain
 * assignment (`target[key] = value`, `Object.assign`, many merge helpers) turns these into
 * prototype pollution, so every way into a document refuses them: the request body parser and
 * JSON Patch alike (and increments), so a document read back can always be written again.
 */
export function isForbiddenMember(parentKey: string | undefined, key: string): boolean {
  return key === '__proto__' || (key === 'prototype' && parentKey === 'constructor');
}

/**
 * The tokens of the first forbidden member ({@link isForbiddenMember}) inside `value`, which sits
 * at a member named `key` (`undefined` for the root or an array element), or `undefined` when
 * there is none. Iterative, so hostile nesting cannot overflow the stack.
 *
 * @internal Not re-exported from the package entry point.
 */
export function forbiddenMemberIn(value: unknown, key: string | undefined): (string | number)[] | undefined {
  // Each entry links to its parent, so the tokens are built only for a hit, not for every value.
  interface Entry {
    readonly value: unknown;
    readonly token: string | number | undefined;
    readonly parent: Entry | undefined;
  }
  const tokensOf = (entry: Entry): (string | number)[] => {
    const tokens: (string | number)[] = [];
    for (let e: Entry | undefined = entry; e?.parent !== undefined; e = e.parent) tokens.unshift(e.token!);
    return tokens;
  };
  const stack: Entry[] = [{ value, token: key, parent: undefined }];
  while (stack.length > 0) {
    const entry = stack.pop()!;
    if (Array.isArray(entry.value)) {
      entry.value.forEach((item: unknown, i) => stack.push({ value: item, token: i, parent: entry }));
    } else if (typeof entry.value === 'object' && entry.value !== null) {
      const parentKey = typeof entry.token === 'string' ? entry.token : undefined;
      for (const child of Object.keys(entry.value)) {
        const next: Entry = {
          value: (entry.value as Record<string, unknown>)[child],
          token: child,
          parent: entry,
        };
        if (isForbiddenMember(parentKey, child)) return tokensOf(next);
        stack.push(next);
      }
    }
  }
  return undefined;
}
