/**
 * JSON Patch (RFC 6902): validating a patch document and applying it atomically.
 */
import type { JsonObject, JsonValue } from './json.js';
import {
  cloneJson,
  deepEqual,
  defineMember,
  forbiddenMemberIn,
  hasMember,
  isForbiddenMember,
  isJsonObject,
  isJsonValue,
} from './json.js';
import { formatPointer, getByPointer, isArrayIndex, isPointerSyntaxError, parsePointer } from './pointer.js';

/** One JSON Patch operation (RFC 6902 section 4). */
export type JsonPatchOperation =
  | { op: 'add'; path: string; value: JsonValue }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: JsonValue }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: JsonValue };

/**
 * Why {@link applyJsonPatch} stopped: a `test` operation whose value differed (`actual` is
 * `undefined` when nothing exists at `pointer`), or an operation that could not be applied
 * (`conflict`: a missing path, an index out of range, a move into its own child, removing the
 * root, ...), or an operation that would create a member named `__proto__` or
 * `constructor/prototype` (`forbidden-member`, where `pointer` is that member's place in the
 * document: see {@link validateJsonPatch}). `index` is the operation's position in the patch and
 * `pointer` its `path` unless said otherwise.
 */
export type JsonPatchFailure =
  | {
      kind: 'test-failed';
      index: number;
      pointer: string;
      expected: JsonValue;
      actual: JsonValue | undefined;
    }
  | { kind: 'conflict'; index: number; pointer: string; message: string }
  | { kind: 'forbidden-member'; index: number; pointer: string };

type PatchError = { pointer: string; message: string };

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

const FORBIDDEN = 'would create a member named __proto__ or constructor/prototype, which are refused';

/**
 * Checks that `doc` (a parsed request body) is a JSON Patch document and returns its operations.
 *
 * Every problem is reported, each with a JSON Pointer into the patch document itself (`/2/op`):
 * a document that is not an array, an element that is not an object, an unknown `op`, a missing
 * or non-string `path` or `from`, a malformed JSON Pointer, and a missing `value` for `add`,
 * `replace` and `test`. Members an operation does not use are ignored, as RFC 6902 section 4
 * requires.
 *
 * An `add`, `replace`, `copy` or `move` whose `path` would create a member named `__proto__` or
 * `prototype` inside `constructor`, or whose `value` holds such a member, is refused too: request
 * bodies may not carry them, so no patch may create them either (see `isForbiddenMember`).
 * `remove`, `test` and `from` may still name them, so a document stored before this rule can be
 * cleaned.
 */
export function validateJsonPatch(
  doc: unknown,
): { ok: true; operations: JsonPatchOperation[] } | { ok: false; errors: PatchError[] } {
  if (!Array.isArray(doc)) {
    return { ok: false, errors: [{ pointer: '', message: 'a JSON Patch document must be an array' }] };
  }
  const errors: PatchError[] = [];
  const operations: JsonPatchOperation[] = [];
  doc.forEach((element: unknown, index) => {
    const at = (member?: string): string => formatPointer(member === undefined ? [index] : [index, member]);
    if (!isJsonObject(element)) {
      errors.push({ pointer: at(), message: 'an operation must be an object' });
      return;
    }
    const before = errors.length;
    const op = hasMember(element, 'op') ? element['op'] : undefined;
    if (typeof op !== 'string' || !OPS.has(op)) {
      const message =
        op === undefined
          ? 'op is required'
          : `op must be one of add, remove, replace, move, copy, test, not ${JSON.stringify(op)}`;
      errors.push({ pointer: at('op'), message });
    }
    const pointerMember = (name: 'path' | 'from'): string => {
      const value = hasMember(element, name) ? element[name] : undefined;
      if (typeof value !== 'string') {
        errors.push({ pointer: at(name), message: `${name} is required and must be a string` });
        return '';
      }
      try {
        parsePointer(value);
      } catch (error) {
        if (!isPointerSyntaxError(error)) throw error;
        errors.push({ pointer: at(name), message: `${name} must be a JSON Pointer: ${error.message}` });
      }
      return value;
    };
    const path = pointerMember('path');
    const from = op === 'move' || op === 'copy' ? pointerMember('from') : '';
    const needsValue = op === 'add' || op === 'replace' || op === 'test';
    if (needsValue && !hasMember(element, 'value')) {
      errors.push({ pointer: at('value'), message: `value is required for ${op}` });
    } else if (needsValue && !isJsonValue(element['value'])) {
      errors.push({ pointer: at('value'), message: 'value must be JSON' });
    }
    if (errors.length > before) return;
    const value = element['value'] as JsonValue;
    if (op !== 'remove' && op !== 'test') {
      const tokens = parsePointer(path);
      if (tokens.some((token, i) => isForbiddenMember(tokens[i - 1], token))) {
        errors.push({ pointer: at('path'), message: FORBIDDEN });
        return;
      }
      const inValue = op === 'add' || op === 'replace' ? forbiddenMemberIn(value, tokens.at(-1)) : undefined;
      if (inValue !== undefined) {
        errors.push({ pointer: formatPointer([index, 'value', ...inValue]), message: FORBIDDEN });
        return;
      }
    }
    switch (op) {
      case 'add':
      case 'replace':
      case 'test':
        operations.push({ op, path, value });
        break;
      case 'move':
      case 'copy':
        operations.push({ op, from, path });
        break;
      case 'remove':
        operations.push({ op, path });
        break;
    }
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, operations };
}

/** Thrown inside {@link applyJsonPatch} to unwind to the failing operation; never escapes. */
class Stop extends Error {}

/** Like {@link Stop}, for a write that would create a forbidden member at `tokens`. */
class Forbidden extends Error {
  constructor(readonly tokens: readonly (string | number)[]) {
    super('forbidden member');
  }
}

/**
 * Applies JSON Patch operations in order, atomically: either all succeed and the patched copy is
 * returned, or the first failure is returned and nothing else. `target` is never changed, and the
 * result shares no objects or arrays with `target` or the operations.
 *
 * `test` compares with JSON semantics ({@link deepEqual}). `-` as the last token of an `add` path
 * appends to an array. Only own members are addressed, so `/__proto__` is an ordinary member name
 * that may be tested and removed; no operation may create one (`forbidden-member`), not even by
 * copying or moving a member that holds `prototype` to `/constructor`.
 */
export function applyJsonPatch(
  target: JsonValue,
  ops: readonly JsonPatchOperation[],
): { ok: true; value: JsonValue } | { ok: false; error: JsonPatchFailure } {
  // Work on one private copy; on failure it is simply dropped, which is what makes the patch atomic.
  let doc = cloneJson(target);
  for (const [index, operation] of ops.entries()) {
    try {
      if (operation.op === 'test') {
        const found = getByPointer(doc, tokensOf(operation.path));
        const actual = found.found ? found.value : undefined;
        if (actual === undefined || !deepEqual(actual, operation.value)) {
          const expected = cloneJson(operation.value);
          return {
            ok: false,
            error: { kind: 'test-failed', index, pointer: operation.path, expected, actual },
          };
        }
      } else {
        doc = applyOne(doc, operation);
      }
    } catch (error) {
      if (error instanceof Forbidden) {
        return {
          ok: false,
          error: { kind: 'forbidden-member', index, pointer: formatPointer(error.tokens) },
        };
      }
      if (!(error instanceof Stop)) throw error;
      return {
        ok: false,
        error: { kind: 'conflict', index, pointer: operation.path, message: error.message },
      };
    }
  }
  return { ok: true, value: doc };
}

// Applies one operation (other than test) to `doc`, mutating it, and returns the new root.
function applyOne(doc: JsonValue, operation: Exclude<JsonPatchOperation, { op: 'test' }>): JsonValue {
  const path = tokensOf(operation.path);
  switch (operation.op) {
    case 'add':
      return add(doc, path, cloneJson(operation.value));
    case 'replace':
      return replace(doc, path, cloneJson(operation.value));
    case 'remove':
      if (path.length === 0) throw new Stop('cannot remove the whole document');
      remove(doc, path);
      return doc;
    case 'copy':
      return add(doc, path, cloneJson(read(doc, tokensOf(operation.from), 'from')));
    case 'move': {
      const from = tokensOf(operation.from);
      const value = read(doc, from, 'from');
      // Section 4.4: "The 'from' location MUST NOT be a proper prefix of the 'path' location; i.e.,
      // a location cannot be moved into one of its children."
      if (path.length > from.length && from.every((token, i) => path[i] === token)) {
        throw new Stop(`cannot move ${operation.from} into its own child ${operation.path}`);
      }
      if (path.length === from.length && from.every((token, i) => path[i] === token)) return doc;
      remove(doc, from);
      return add(doc, path, value);
    }
  }
}

function tokensOf(pointer: string): string[] {
  try {
    return parsePointer(pointer);
  } catch (error) {
    if (isPointerSyntaxError(error)) throw new Stop(error.message);
    throw error;
  }
}

function read(doc: JsonValue, tokens: readonly string[], role: string): JsonValue {
  const found = getByPointer(doc, tokens);
  if (!found.found) throw new Stop(`${role} location ${formatPointer(tokens)} does not exist`);
  return found.value;
}

// Resolves the container a path's last token refers into; it must exist (section 4.1: "the target
// location MUST reference ... a member to add to an existing object").
function parent(
  doc: JsonValue,
  tokens: readonly string[],
): { container: JsonValue[] | JsonObject; key: string } {
  const container = read(doc, tokens.slice(0, -1), 'parent of');
  if (!Array.isArray(container) && !isJsonObject(container)) {
    throw new Stop(`${formatPointer(tokens.slice(0, -1))} is neither an object nor an array`);
  }
  return { container, key: tokens[tokens.length - 1] ?? '' };
}

function add(doc: JsonValue, tokens: readonly string[], value: JsonValue): JsonValue {
  refuseForbidden(tokens, value);
  // Section 4.1: a path of "" replaces the whole document.
  if (tokens.length === 0) return value;
  const { container, key } = parent(doc, tokens);
  if (Array.isArray(container)) {
    // Section 4.1: "-" appends; an index inserts before it and may equal the length.
    const index = key === '-' ? container.length : arrayIndex(key, container.length + 1, tokens);
    container.splice(index, 0, value);
  } else {
    defineMember(container, key, value);
  }
  return doc;
}

// Section 4.3: the target location MUST exist; the value is replaced where it stands, so an object
// member keeps its place among its siblings.
function replace(doc: JsonValue, tokens: readonly string[], value: JsonValue): JsonValue {
  refuseForbidden(tokens, value);
  if (tokens.length === 0) return value;
  const { container, key } = parent(doc, tokens);
  if (Array.isArray(container)) {
    container[arrayIndex(key, container.length, tokens)] = value;
  } else if (hasMember(container, key)) {
    defineMember(container, key, value);
  } else {
    throw new Stop(`${formatPointer(tokens)} does not exist`);
  }
  return doc;
}

// Every write (add, replace, and through add, copy and move) passes here: the place written and
// everything in the value written must be free of forbidden members.
function refuseForbidden(tokens: readonly string[], value: JsonValue): void {
  const at = tokens.findIndex((token, i) => isForbiddenMember(tokens[i - 1], token));
  if (at >= 0) throw new Forbidden(tokens.slice(0, at + 1));
  const inValue = forbiddenMemberIn(value, tokens.at(-1));
  if (inValue !== undefined) throw new Forbidden([...tokens, ...inValue]);
}

function remove(doc: JsonValue, tokens: readonly string[]): void {
  const { container, key } = parent(doc, tokens);
  if (Array.isArray(container)) {
    container.splice(arrayIndex(key, container.length, tokens), 1);
  } else if (hasMember(container, key)) {
    delete container[key];
  } else {
    throw new Stop(`${formatPointer(tokens)} does not exist`);
  }
}

// An index below `limit`, written without leading zeros (RFC 6901 section 4).
function arrayIndex(token: string, limit: number, tokens: readonly string[]): number {
  if (!isArrayIndex(token)) throw new Stop(`${formatPointer(tokens)}: "${token}" is not an array index`);
  const index = Number(token);
  if (index >= limit) throw new Stop(`${formatPointer(tokens)}: index ${index} is out of range`);
  return index;
}
