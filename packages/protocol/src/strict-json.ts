/**
 * Strict JSON text parsing: `JSON.parse`, plus the rules it does not enforce.
 *
 * `JSON.parse` silently keeps the last of two members with the same name, turns `1e400` into
 * `Infinity` (which `JSON.stringify` then writes as `null`), rounds `9007199254740993` to
 * `9007199254740992`, and rounds `1e-400` to `0`. A server that stores what it parsed would lose
 * data without a word, so this module refuses such texts and says where. `JSON.parse` stays the
 * fast path that builds the value; one tight pass over the text then checks what only the text
 * shows (member names as written, numbers as written).
 */
import type { JsonValue } from './json.js';
import { isForbiddenMember } from './json.js';
import { formatPointer } from './pointer.js';

/** One reason a JSON text was refused: where (a JSON Pointer into the text's value) and why. */
export interface JsonTextError {
  readonly pointer: string;
  readonly message: string;
}

/** Limits for {@link parseStrictJson}. */
export interface StrictJsonOptions {
  /** Objects and arrays nested this deep or deeper are refused (the root is depth 0). Default 64. */
  readonly maxDepth?: number;
  /** At most this many errors are listed. Default 100. */
  readonly maxErrors?: number;
}

/**
 * Parses a JSON text (RFC 8259) and refuses what would not survive storing and serialising it:
 *
 * - a member name that appears twice in one object (RFC 8259 section 4: names "SHOULD be
 *   unique"; I-JSON, RFC 7493 section 2.3: "MUST NOT");
 * - a number too large for a double (`1e400` would become `null`);
 * - a non-zero number so small it would become `0` (`1e-400`);
 * - an integer written without fraction or exponent beyond ±(2^53 − 1) (I-JSON section 2.2),
 *   because it may silently change (`9007199254740993` reads as `…992`); send it as a string.
 *   Other numbers are kept as the nearest double, as everywhere in JSON (`0.1`, `1.5e300`);
 * - a member named `__proto__`, or `prototype` directly inside `constructor`;
 * - nesting deeper than `maxDepth`.
 *
 * Every problem is listed (up to `maxErrors`) with the JSON Pointer of the offending member or
 * number (`syntax: false`); a text that is not JSON at all has one error at pointer `''` with
 * `JSON.parse`'s message (`syntax: true`).
 */
export function parseStrictJson(
  text: string,
  options: StrictJsonOptions = {},
): { ok: true; value: JsonValue } | { ok: false; syntax: boolean; errors: JsonTextError[] } {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    return { ok: false, syntax: true, errors: [{ pointer: '', message: (error as Error).message }] };
  }
  const errors = scan(text, options.maxDepth ?? 64, options.maxErrors ?? 100);
  return errors.length > 0 ? { ok: false, syntax: false, errors } : { ok: true, value };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

// One open object or array. `key` is the member being read (objects) and `index` the element
// (arrays). Member names seen so far are in `names`, and also in `set` once there are more than
// SMALL of them: a short array is cheaper than a Set for the small objects most documents hold.
// Frames are reused by depth, so a scan allocates next to nothing but the names it slices.
interface Frame {
  isObject: boolean;
  key: string;
  index: number;
  readonly names: string[];
  set: Set<string> | undefined;
}

const SMALL = 16;

/**
 * Checks a text `JSON.parse` accepted, so the scan may trust its grammar: it looks only at the
 * characters that open and close containers, separate members and start strings and numbers.
 */
function scan(text: string, maxDepth: number, maxErrors: number): JsonTextError[] {
  const errors: JsonTextError[] = [];
  const frames: Frame[] = [];
  let depth = 0; // frames[0 .. depth - 1] are open
  const pointer = (): string =>
    formatPointer(frames.slice(0, depth).map((f) => (f.isObject ? f.key : f.index)));
  const report = (message: string): boolean => {
    errors.push({ pointer: pointer(), message });
    return errors.length >= maxErrors;
  };
  let expectName = false;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (expectName) {
        expectName = false;
        const raw = text.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        const frame = frames[depth - 1]!;
        frame.key = name;
        if (frame.set !== undefined ? frame.set.has(name) : frame.names.includes(name)) {
          if (report('is a duplicate member name')) return errors;
        } else if (frame.set !== undefined) frame.set.add(name);
        else if (frame.names.push(name) > SMALL) frame.set = new Set(frame.names);
        const parent = depth > 1 ? frames[depth - 2]! : undefined;
        if (isForbiddenMember(parent?.isObject ? parent.key : undefined, name)) {
          if (report('is a forbidden member name (__proto__ and constructor.prototype are refused)'))
            return errors;
        }
      }
      i = end + 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth >= maxDepth) {
        report(`is nested deeper than ${maxDepth} levels`);
        return errors;
      }
      const isObject = c === OPEN_OBJECT;
      const frame = (frames[depth] ??= { isObject, key: '', index: 0, names: [], set: undefined });
      frame.isObject = isObject;
      frame.key = '';
      frame.index = 0;
      frame.names.length = 0;
      frame.set = undefined;
      depth++;
      expectName = isObject;
      i++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      expectName = false;
      i++;
    } else if (c === COMMA) {
      const frame = frames[depth - 1]!;
      if (frame.isObject) expectName = true;
      else frame.index++;
      i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      let plain = true; // digits and a sign only: no fraction, no exponent
      let next = c;
      while (
        i < length &&
        (next === 0x2d ||
          next === 0x2b ||
          next === 0x2e ||
          (next | 0x20) === 0x65 ||
          (next >= 0x30 && next <= 0x39))
      ) {
        if (next === 0x2e || (next | 0x20) === 0x65) plain = false;
        next = text.charCodeAt(++i);
      }
      // Up to 15 digits without an exponent is always exact and finite: the common case stops here.
      if (!plain || i - start > 15) {
        const message = numberProblem(text.slice(start, i), plain);
        if (message !== undefined && report(message)) return errors;
      }
    } else {
      // Whitespace, ':' and the letters of true, false and null.
      i++;
    }
  }
  return errors;
}

// The index of the quote that closes the string opening at `start`: the first quote not escaped
// by an odd number of backslashes. indexOf keeps long strings at native speed.
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

function numberProblem(literal: string, plain: boolean): string | undefined {
  const value = Number(literal);
  if (!Number.isFinite(value)) return `is too large for a double-precision number (${literal})`;
  if (value === 0) {
    // Only the digits before the exponent say whether the number was meant to be zero.
    const mantissa = literal.split(/[eE]/, 1)[0]!;
    if (/[1-9]/.test(mantissa))
      return `is too small for a double-precision number and would read as 0 (${literal})`;
    return undefined;
  }
  if (plain && !Number.isSafeInteger(value)) {
    return `is an integer beyond ±(2^53 − 1) that would not be kept exactly (${literal}); send it as a string`;
  }
  return undefined;
}
