/**
 * The examples of RFC 6902 Appendix A, each run through validateJsonPatch and applyJsonPatch as a
 * server would.
 */
import { describe, expect, it } from 'vitest';
import type { JsonValue } from './json.js';
import { applyJsonPatch, validateJsonPatch } from './json-patch.js';

function patch(target: JsonValue, document: unknown) {
  const validated = validateJsonPatch(document);
  if (!validated.ok) throw new Error(JSON.stringify(validated.errors));
  return applyJsonPatch(target, validated.operations);
}

describe('RFC 6902 Appendix A', () => {
  it('A.1 adding an object member', () => {
    expect(patch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }])).toEqual({
      ok: true,
      value: { baz: 'qux', foo: 'bar' },
    });
  });

  it('A.2 adding an array element', () => {
    expect(patch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }])).toEqual({
      ok: true,
      value: { foo: ['bar', 'qux', 'baz'] },
    });
  });

  it('A.3 removing an object member', () => {
    expect(patch({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }])).toEqual({
      ok: true,
      value: { foo: 'bar' },
    });
  });

  it('A.4 removing an array element', () => {
    expect(patch({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }])).toEqual({
      ok: true,
      value: { foo: ['bar', 'baz'] },
    });
  });

  it('A.5 replacing a value', () => {
    expect(patch({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }])).toEqual({
      ok: true,
      value: { baz: 'boo', foo: 'bar' },
    });
  });

  it('A.6 moving a value', () => {
    const target = { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } };
    expect(patch(target, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }])).toEqual({
      ok: true,
      value: { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    });
  });

  it('A.7 moving an array element', () => {
    expect(
      patch({ foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }]),
    ).toEqual({
      ok: true,
      value: { foo: ['all', 'cows', 'eat', 'grass'] },
    });
  });

  it('A.8 testing a value: success', () => {
    const target = { baz: 'qux', foo: ['a', 2, 'c'] };
    const ops = [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ];
    expect(patch(target, ops)).toEqual({ ok: true, value: target });
  });

  it('A.9 testing a value: error', () => {
    expect(patch({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }])).toEqual({
      ok: false,
      error: { kind: 'test-failed', index: 0, pointer: '/baz', expected: 'bar', actual: 'qux' },
    });
  });

  it('A.10 adding a nested member object', () => {
    expect(patch({ foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }])).toEqual({
      ok: true,
      value: { foo: 'bar', child: { grandchild: {} } },
    });
  });

  it('A.11 ignoring unrecognized elements', () => {
    expect(patch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }])).toEqual({
      ok: true,
      value: { foo: 'bar', baz: 'qux' },
    });
  });

  it('A.12 adding to a nonexistent target', () => {
    expect(patch({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }])).toEqual({
      ok: false,
      error: { kind: 'conflict', index: 0, pointer: '/baz/bat', message: expect.any(String) },
    });
  });

  it('A.13 invalid JSON Patch document (duplicate op: the parser keeps one; either way it is handled)', () => {
    // JSON.parse keeps the last duplicate member, so the operation reads as a remove of a
    // missing member; a parser that rejected duplicates would stop earlier. Either way: no change.
    const document: unknown = JSON.parse('[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]');
    expect(patch({ foo: 'bar' }, document)).toMatchObject({ ok: false, error: { kind: 'conflict' } });
  });

  it('A.14 ~ escape ordering', () => {
    const target = { '/': 9, '~1': 10 };
    expect(patch(target, [{ op: 'test', path: '/~01', value: 10 }])).toEqual({ ok: true, value: target });
  });

  it('A.15 comparing strings and numbers', () => {
    expect(patch({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }])).toEqual({
      ok: false,
      error: { kind: 'test-failed', index: 0, pointer: '/~01', expected: '10', actual: 10 },
    });
  });

  it('A.16 adding an array value', () => {
    expect(patch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }])).toEqual({
      ok: true,
      value: { foo: ['bar', ['abc', 'def']] },
    });
  });
});
