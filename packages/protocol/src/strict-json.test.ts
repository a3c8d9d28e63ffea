import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseStrictJson } from './strict-json.js';

const pointers = (text: string): string[] => {
  const result = parseStrictJson(text);
  if (result.ok) return [];
  return result.errors.map((e) => e.pointer);
};

describe('parseStrictJson', () => {
  it('parses what JSON.parse parses when nothing is lost (property)', () => {
    // fc.jsonValue has no duplicate names, and its numbers are doubles written by JSON.stringify;
    // leave out what the rules are about: integers past 2^53 and the names __proto__ and constructor.
    const safe = fc.jsonValue().filter((v) => {
      const text = JSON.stringify(v);
      return !/(^|[^\d.eE+-])-?\d{16,}(?![\d.eE])/.test(text) && !/"(__proto__|constructor)"/.test(text);
    });
    fc.assert(
      fc.property(safe, (value) => {
        const text = JSON.stringify(value, null, 1);
        const result = parseStrictJson(text, { maxDepth: 1000 });
        expect(result).toEqual({ ok: true, value: JSON.parse(text) });
      }),
    );
  });

  it('reports a syntax error at the root', () => {
    const result = parseStrictJson('{"a":');
    expect(result).toMatchObject({ ok: false, syntax: true, errors: [{ pointer: '' }] });
  });

  it('refuses every duplicate member name with its pointer', () => {
    expect(pointers('{"a":1,"b":2,"a":3}')).toEqual(['/a']);
    expect(pointers('{"x":[{"k":1},{"k":1,"j":2,"k":3}],"x":null}')).toEqual(['/x/1/k', '/x']);
    // Names compare after unescaping, and escapes in pointers follow RFC 6901.
    expect(pointers('{"a/b":1,"a\\/b":2}')).toEqual(['/a~1b']);
    expect(pointers('{"\\u0061":1,"a":2}')).toEqual(['/a']);
    // The same name in different objects is fine, and so are equal strings as values.
    expect(pointers('{"a":{"a":"a"},"b":{"a":"a"}}')).toEqual([]);
  });

  it('refuses numbers that would not be kept, with their pointer', () => {
    const result = parseStrictJson('{"stock":1e400,"low":[-1e400],"tiny":1e-400,"id":9007199254740993}');
    expect(result).toMatchObject({ ok: false, syntax: false });
    expect(result.ok ? [] : result.errors).toEqual([
      { pointer: '/stock', message: expect.stringContaining('too large') },
      { pointer: '/low/0', message: expect.stringContaining('too large') },
      { pointer: '/tiny', message: expect.stringContaining('too small') },
      { pointer: '/id', message: expect.stringContaining('2^53') },
    ]);
    expect(pointers('1e400')).toEqual(['']);
    expect(pointers('-9007199254740992')).toEqual(['']);
  });

  it('keeps numbers JSON keeps as doubles anyway', () => {
    for (const text of [
      '9007199254740991',
      '-9007199254740991',
      '0.1',
      '1.7976931348623157e308',
      '5e-324',
      '-0',
      '0e-400',
      '0.0000',
      '9007199254740993.0',
      '1e20',
      '123456789012345678.5',
    ]) {
      expect(parseStrictJson(text), text).toEqual({ ok: true, value: JSON.parse(text) });
    }
  });

  it('refuses __proto__ anywhere and prototype directly inside constructor', () => {
    expect(pointers('{"__proto__":{}}')).toEqual(['/__proto__']);
    expect(pointers('{"a":[{"\\u005f_proto__":1}]}')).toEqual(['/a/0/__proto__']);
    expect(pointers('{"constructor":{"prototype":{}}}')).toEqual(['/constructor/prototype']);
    expect(pointers('{"constructor":1,"prototype":2,"x":{"constructor":[{"prototype":3}]}}')).toEqual([]);
  });

  it('refuses nesting at maxDepth with the pointer of the first container too deep', () => {
    expect(pointers('[[[1]]]')).toEqual([]);
    expect(parseStrictJson('[[[1]]]', { maxDepth: 2 })).toMatchObject({
      ok: false,
      errors: [{ pointer: '/0/0', message: 'is nested deeper than 2 levels' }],
    });
  });

  it('finds string ends past escaped quotes and backslashes', () => {
    expect(pointers('{"a\\"":1,"b\\\\":2,"a\\"":3,"c":"\\\\\\"{[,"}')).toEqual(['/a"']);
  });

  it('lists at most maxErrors errors', () => {
    const text = '{' + Array.from({ length: 50 }, () => '"a":1').join(',') + '}';
    const result = parseStrictJson(text, { maxErrors: 10 });
    expect(result.ok ? 0 : result.errors.length).toBe(10);
  });
});
