import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonValue } from './json.js';
import { cloneJson } from './json.js';
import type { JsonPatchOperation } from './json-patch.js';
import { applyJsonPatch, validateJsonPatch } from './json-patch.js';

const conflict = (index: number, pointer: string) => ({
  ok: false,
  error: { kind: 'conflict', index, pointer, message: expect.any(String) },
});

describe('validateJsonPatch', () => {
  it('returns the operations with only the members they use', () => {
    expect(
      validateJsonPatch([
        { op: 'add', path: '/a', value: 1, from: '/x' },
        { op: 'remove', path: '/a', value: 1 },
        { op: 'replace', path: '', value: null },
        { op: 'move', from: '/a', path: '/b' },
        { op: 'copy', from: '/a', path: '/b' },
        { op: 'test', path: '/a', value: [1] },
      ]),
    ).toEqual({
      ok: true,
      operations: [
        { op: 'add', path: '/a', value: 1 },
        { op: 'remove', path: '/a' },
        { op: 'replace', path: '', value: null },
        { op: 'move', from: '/a', path: '/b' },
        { op: 'copy', from: '/a', path: '/b' },
        { op: 'test', path: '/a', value: [1] },
      ],
    });
    expect(validateJsonPatch([])).toEqual({ ok: true, operations: [] });
  });

  it('rejects a document that is not an array', () => {
    for (const doc of [{}, null, 'x', { op: 'add', path: '/a', value: 1 }]) {
      expect(validateJsonPatch(doc)).toEqual({
        ok: false,
        errors: [{ pointer: '', message: expect.any(String) }],
      });
    }
  });

  it('reports every problem with a pointer into the patch document', () => {
    const result = validateJsonPatch([
      { op: 'add', path: '/ok', value: 1 },
      'remove',
      { op: 'frobnicate', path: '/a' },
      { path: '/a' },
      { op: 'remove' },
      { op: 'replace', path: 7, value: 1 },
      { op: 'add', path: 'a~2' },
      { op: 'move', path: '/a' },
      { op: 'copy', from: 'x', path: '/a' },
      { op: 'test', path: '/a' },
      { op: 7, path: '/a' },
    ]);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.pointer)).toEqual([
      '/1',
      '/2/op',
      '/3/op',
      '/4/path',
      '/5/path',
      '/6/path',
      '/6/value',
      '/7/from',
      '/8/from',
      '/9/value',
      '/10/op',
    ]);
    for (const error of result.errors) expect(error.message).toMatch(/\S/);
  });

  it('treats a null value as present and undefined or non-JSON values as invalid', () => {
    expect(validateJsonPatch([{ op: 'add', path: '/a', value: null }]).ok).toBe(true);
    expect(validateJsonPatch([{ op: 'add', path: '/a', value: undefined }]).ok).toBe(false);
    expect(validateJsonPatch([{ op: 'test', path: '/a', value: NaN }]).ok).toBe(false);
  });
});

describe('applyJsonPatch', () => {
  it('replaces the whole document with a root add or replace', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '', value: [1] }])).toEqual({ ok: true, value: [1] });
    expect(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: 'x' }])).toEqual({
      ok: true,
      value: 'x',
    });
  });

  it('refuses to remove the root', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '' }])).toEqual(conflict(0, ''));
  });

  it('adds at an array index up to the length, and appends with -', () => {
    expect(applyJsonPatch([1, 2], [{ op: 'add', path: '/2', value: 3 }])).toEqual({
      ok: true,
      value: [1, 2, 3],
    });
    expect(applyJsonPatch([1, 2], [{ op: 'add', path: '/0', value: 0 }])).toEqual({
      ok: true,
      value: [0, 1, 2],
    });
    expect(applyJsonPatch([], [{ op: 'add', path: '/-', value: 1 }])).toEqual({ ok: true, value: [1] });
    expect(applyJsonPatch([1, 2], [{ op: 'add', path: '/3', value: 3 }])).toEqual(conflict(0, '/3'));
    expect(applyJsonPatch([1, 2], [{ op: 'add', path: '/01', value: 3 }])).toEqual(conflict(0, '/01'));
    expect(applyJsonPatch([1, 2], [{ op: 'add', path: '/x', value: 3 }])).toEqual(conflict(0, '/x'));
  });

  it('needs an existing target for remove and replace, with - never allowed', () => {
    const doc = { a: [1], o: {} };
    for (const path of ['/b', '/a/1', '/a/-', '/o/x', '/a/0/x', '/constructor']) {
      expect(applyJsonPatch(doc, [{ op: 'remove', path }]), path).toEqual(conflict(0, path));
      expect(applyJsonPatch(doc, [{ op: 'replace', path, value: 1 }]), path).toEqual(conflict(0, path));
    }
    expect(applyJsonPatch(doc, [{ op: 'remove', path: '/__proto__' }])).toEqual(conflict(0, '/__proto__'));
  });

  it('keeps the member order on replace', () => {
    const result = applyJsonPatch({ a: 1, b: 2, c: 3 }, [{ op: 'replace', path: '/b', value: 9 }]);
    expect(result.ok && Object.keys(result.value as object)).toEqual(['a', 'b', 'c']);
  });

  it('refuses to add below a scalar or a missing parent', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '/a/b', value: 1 }])).toEqual(conflict(0, '/a/b'));
    expect(applyJsonPatch('x', [{ op: 'add', path: '/0', value: 1 }])).toEqual(conflict(0, '/0'));
  });

  it('moves and copies', () => {
    expect(applyJsonPatch({ a: { b: 1 } }, [{ op: 'copy', from: '/a', path: '/c' }])).toEqual({
      ok: true,
      value: { a: { b: 1 }, c: { b: 1 } },
    });
    expect(applyJsonPatch({ a: 1 }, [{ op: 'move', from: '/a', path: '/a' }])).toEqual({
      ok: true,
      value: { a: 1 },
    });
    expect(applyJsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a/b', path: '' }])).toEqual({
      ok: true,
      value: 1,
    });
    expect(applyJsonPatch([1, 2, 3], [{ op: 'move', from: '/0', path: '/-' }])).toEqual({
      ok: true,
      value: [2, 3, 1],
    });
  });

  it('refuses a move into its own child, and a missing from', () => {
    expect(applyJsonPatch({ a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }])).toEqual(
      conflict(0, '/a/b/c'),
    );
    expect(applyJsonPatch({ a: 1 }, [{ op: 'move', from: '', path: '/b' }])).toEqual(conflict(0, '/b'));
    expect(applyJsonPatch({ a: 1 }, [{ op: 'move', from: '/x', path: '/x' }])).toEqual(conflict(0, '/x'));
    expect(applyJsonPatch({ a: 1 }, [{ op: 'copy', from: '/x', path: '/b' }])).toEqual(conflict(0, '/b'));
  });

  it('does not alias copied values', () => {
    const result = applyJsonPatch({ a: { n: 1 } }, [
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'replace', path: '/b/n', value: 2 },
    ]);
    expect(result).toEqual({ ok: true, value: { a: { n: 1 }, b: { n: 2 } } });
  });

  it('tests with JSON equality', () => {
    const doc = { a: { x: 1, y: [1, 2] }, n: 1, z: null };
    const pass: JsonPatchOperation[] = [
      { op: 'test', path: '/a', value: { y: [1, 2], x: 1.0 } },
      { op: 'test', path: '/z', value: null },
      { op: 'test', path: '', value: doc },
    ];
    expect(applyJsonPatch(doc, pass)).toEqual({ ok: true, value: doc });
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/a/y', value: [2, 1] }])).toMatchObject({
      ok: false,
      error: { kind: 'test-failed', actual: [1, 2] },
    });
  });

  it('reports a test of a missing location as test-failed with no actual value', () => {
    expect(applyJsonPatch({}, [{ op: 'test', path: '/missing', value: null }])).toEqual({
      ok: false,
      error: { kind: 'test-failed', index: 0, pointer: '/missing', expected: null, actual: undefined },
    });
  });

  it('is atomic: a late failure leaves nothing applied and reports its index', () => {
    const target = { a: 1, list: [1, 2] };
    const before = cloneJson(target);
    const result = applyJsonPatch(target, [
      { op: 'replace', path: '/a', value: 2 },
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'remove', path: '/missing' },
    ]);
    expect(result).toEqual(conflict(2, '/missing'));
    expect(target).toEqual(before);
  });

  it('reports malformed pointers in unvalidated operations as conflicts', () => {
    expect(applyJsonPatch({}, [{ op: 'add', path: 'a', value: 1 }])).toEqual(conflict(0, 'a'));
  });

  it('never changes the target and never shares structure with it', () => {
    const path = fc.constantFrom('', '/a', '/a/0', '/a/-', '/b', '/b/c', '/0', '/-');
    const op: fc.Arbitrary<JsonPatchOperation> = fc.oneof(
      fc.record({
        op: fc.constant('add' as const),
        path,
        value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
      }),
      fc.record({ op: fc.constant('remove' as const), path }),
      fc.record({
        op: fc.constant('replace' as const),
        path,
        value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
      }),
      fc.record({ op: fc.constant('move' as const), from: path, path }),
      fc.record({ op: fc.constant('copy' as const), from: path, path }),
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.array(op, { maxLength: 5 }), (doc, ops) => {
        const target = doc as JsonValue;
        const before = cloneJson(target);
        const result = applyJsonPatch(target, ops);
        expect(target).toEqual(before);
        if (result.ok && typeof result.value === 'object' && result.value !== null) {
          expect(result.value).not.toBe(target);
        }
      }),
    );
  });
});

describe('applyJsonPatch and prototype pollution', () => {
  const forbidden = (index: number, pointer: string) => ({
    ok: false,
    error: { kind: 'forbidden-member', index, pointer },
  });

  it('never creates __proto__ or constructor/prototype, whichever operation writes', () => {
    const doc = { a: {}, src: { prototype: 1, inner: JSON.parse('{"__proto__": 1}') as JsonValue } };
    const cases: [JsonPatchOperation, string][] = [
      [{ op: 'add', path: '/__proto__', value: { polluted: true } }, '/__proto__'],
      [{ op: 'add', path: '/__proto__/polluted', value: true }, '/__proto__'],
      [{ op: 'add', path: '/a/__proto__/polluted', value: true }, '/a/__proto__'],
      [{ op: 'add', path: '/constructor/prototype/polluted', value: true }, '/constructor/prototype'],
      [{ op: 'add', path: '/constructor', value: { prototype: {} } }, '/constructor/prototype'],
      [{ op: 'add', path: '/a/x', value: [JSON.parse('{"__proto__": 1}') as JsonValue] }, '/a/x/0/__proto__'],
      [{ op: 'replace', path: '/__proto__', value: 1 }, '/__proto__'],
      [{ op: 'replace', path: '', value: { constructor: { prototype: 1 } } }, '/constructor/prototype'],
      [{ op: 'copy', from: '/src', path: '/constructor' }, '/constructor/prototype'],
      [{ op: 'move', from: '/src', path: '/constructor' }, '/constructor/prototype'],
      [{ op: 'copy', from: '/src/inner', path: '/b' }, '/b/__proto__'],
    ];
    for (const [operation, pointer] of cases) {
      expect(applyJsonPatch(doc, [{ op: 'test', path: '/a', value: {} }, operation]), pointer).toEqual(
        forbidden(1, pointer),
      );
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    // constructor and prototype on their own, or with an array between them, are ordinary names.
    const ok = applyJsonPatch(doc, [
      { op: 'add', path: '/constructor', value: [{ prototype: 1 }] },
      { op: 'copy', from: '/src/prototype', path: '/a/prototype' },
    ]);
    expect(ok.ok).toBe(true);
  });

  it('does not walk into inherited objects', () => {
    expect(applyJsonPatch({}, [{ op: 'add', path: '/constructor/x', value: true }])).toEqual(
      conflict(0, '/constructor/x'),
    );
    expect(applyJsonPatch({}, [{ op: 'copy', from: '/constructor', path: '/x' }])).toEqual(conflict(0, '/x'));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('a document that already holds __proto__ can be tested, cleaned and moved out of it', () => {
    const target = JSON.parse('{"__proto__": {"x": 1}, "b": 1}') as JsonValue;
    const result = applyJsonPatch(target, [
      { op: 'test', path: '/__proto__/x', value: 1 },
      { op: 'move', from: '/__proto__', path: '/kept' },
      { op: 'replace', path: '/b', value: 2 },
    ]);
    expect(result).toEqual({ ok: true, value: { b: 2, kept: { x: 1 } } });
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});

describe('validateJsonPatch and forbidden members', () => {
  it('refuses writes to them with the pointer into the patch, and lets remove, test and from name them', () => {
    const result = validateJsonPatch([
      { op: 'add', path: '/__proto__', value: 1 },
      { op: 'replace', path: '/a/constructor/prototype', value: 1 },
      { op: 'copy', from: '/a', path: '/x/__proto__' },
      { op: 'move', from: '/a', path: '/constructor/prototype' },
      { op: 'add', path: '/constructor', value: { prototype: 1 } },
      { op: 'add', path: '/a', value: { b: [{ constructor: { prototype: 1 } }] } },
      { op: 'remove', path: '/__proto__' },
      { op: 'test', path: '/constructor/prototype', value: 1 },
      { op: 'move', from: '/__proto__', path: '/y' },
      { op: 'add', path: '/constructor', value: 1 },
    ]);
    expect(result.ok ? [] : result.errors.map((e) => e.pointer)).toEqual([
      '/0/path',
      '/1/path',
      '/2/path',
      '/3/path',
      '/4/value/prototype',
      '/5/value/b/0/constructor/prototype',
    ]);
  });
});
