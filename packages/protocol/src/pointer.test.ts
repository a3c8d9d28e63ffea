import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonValue } from './json.js';
import {
  formatPointer,
  getByPointer,
  isPointerSyntaxError,
  parsePointer,
  PointerSyntaxError,
} from './pointer.js';

// RFC 6901 section 5.
const rfcDoc: JsonValue = {
  foo: ['bar', 'baz'],
  '': 0,
  'a/b': 1,
  'c%d': 2,
  'e^f': 3,
  'g|h': 4,
  'i\\j': 5,
  'k"l': 6,
  ' ': 7,
  'm~n': 8,
};

describe('getByPointer with the RFC 6901 section 5 examples', () => {
  it.each<[string, JsonValue]>([
    ['', rfcDoc],
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/c%d', 2],
    ['/e^f', 3],
    ['/g|h', 4],
    ['/i\\j', 5],
    ['/k"l', 6],
    ['/ ', 7],
    ['/m~0n', 8],
  ])('%j', (pointer, expected) => {
    expect(getByPointer(rfcDoc, pointer)).toEqual({ found: true, value: expected });
  });
});

describe('getByPointer', () => {
  const doc: JsonValue = { list: [10, 20, 30], obj: { nested: null }, s: 'text' };

  it('finds null values', () => {
    expect(getByPointer(doc, '/obj/nested')).toEqual({ found: true, value: null });
  });

  it('accepts pre-parsed tokens', () => {
    expect(getByPointer(doc, ['list', '2'])).toEqual({ found: true, value: 30 });
  });

  it('needs canonical, in-range array indexes and never resolves -', () => {
    for (const pointer of [
      '/list/3',
      '/list/-',
      '/list/01',
      '/list/-1',
      '/list/1.0',
      '/list/1e0',
      '/list/ 1',
      '/list/',
    ]) {
      expect(getByPointer(doc, pointer), pointer).toEqual({ found: false });
    }
    expect(getByPointer(doc, '/list/0')).toEqual({ found: true, value: 10 });
  });

  it('does not descend into scalars or missing members', () => {
    expect(getByPointer(doc, '/s/0')).toEqual({ found: false });
    expect(getByPointer(doc, '/s/length')).toEqual({ found: false });
    expect(getByPointer(doc, '/missing')).toEqual({ found: false });
    expect(getByPointer(doc, '/obj/nested/x')).toEqual({ found: false });
  });

  it('does not find inherited members', () => {
    for (const pointer of [
      '/__proto__',
      '/constructor',
      '/toString',
      '/obj/hasOwnProperty',
      '/list/length',
    ]) {
      expect(getByPointer(doc, pointer), pointer).toEqual({ found: false });
    }
  });

  it('finds an own __proto__ member', () => {
    const own = JSON.parse('{"__proto__": {"x": 1}}') as JsonValue;
    expect(getByPointer(own, '/__proto__/x')).toEqual({ found: true, value: 1 });
  });

  it('throws on malformed pointers', () => {
    expect(() => getByPointer(doc, 'list')).toThrow(PointerSyntaxError);
  });
});

describe('parsePointer', () => {
  it('splits and unescapes, ~1 before ~0', () => {
    expect(parsePointer('')).toEqual([]);
    expect(parsePointer('/')).toEqual(['']);
    expect(parsePointer('//')).toEqual(['', '']);
    expect(parsePointer('/a~1b/m~0n')).toEqual(['a/b', 'm~n']);
    expect(parsePointer('/~01')).toEqual(['~1']);
    expect(parsePointer('/~10')).toEqual(['/0']);
  });

  it('rejects pointers without a leading slash or with a bad escape', () => {
    for (const pointer of ['a', '#/a', ' /a', '/a~', '/a~2', '/~a', '/~/']) {
      let caught: unknown;
      try {
        parsePointer(pointer);
      } catch (error) {
        caught = error;
      }
      expect(caught, pointer).toBeInstanceOf(PointerSyntaxError);
      expect(isPointerSyntaxError(caught)).toBe(true);
      expect((caught as PointerSyntaxError).pointer).toBe(pointer);
    }
  });

  it('is the inverse of formatPointer', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', '/', '~', '0', '1', '') })), (tokens) => {
        expect(parsePointer(formatPointer(tokens))).toEqual(tokens);
      }),
    );
  });
});

describe('formatPointer', () => {
  it('escapes ~ and / and writes numbers in decimal', () => {
    expect(formatPointer([])).toBe('');
    expect(formatPointer(['a/b', 'm~n', 0, 12])).toBe('/a~1b/m~0n/0/12');
    expect(formatPointer(['~1'])).toBe('/~01');
  });
});

describe('isPointerSyntaxError', () => {
  it('recognises only branded errors', () => {
    expect(isPointerSyntaxError(new PointerSyntaxError('x', 'because'))).toBe(true);
    expect(isPointerSyntaxError(new Error('invalid JSON Pointer'))).toBe(false);
    expect(isPointerSyntaxError({ [Symbol.for('truce.PointerSyntaxError')]: true })).toBe(true);
    expect(isPointerSyntaxError(null)).toBe(false);
  });
});
