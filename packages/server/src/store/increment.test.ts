import { isPointerSyntaxError } from '@truce/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyIncrement } from './increment.js';
import type { Increment, JsonObject } from './types.js';

describe('applyIncrement', () => {
  it('creates a member named __proto__ as an own member, leaving the prototype alone', () => {
    const doc = JSON.parse('{}') as JsonObject;
    const result = applyIncrement(doc, { pointer: '/__proto__', by: 3 });
    expect(result.ok).toBe(true);
    expect(Object.getPrototypeOf(doc)).toBe(Object.prototype);
    expect(JSON.stringify(doc)).toBe('{"__proto__":3}');
    // And reads it back as a number the next time.
    applyIncrement(doc, { pointer: '/__proto__', by: 1 });
    expect(JSON.stringify(doc)).toBe('{"__proto__":4}');
  });

  it('does not treat inherited members as present', () => {
    const doc: JsonObject = { a: {} };
    expect(applyIncrement(doc, { pointer: '/a/toString/x', by: 1 })).toStrictEqual({
      ok: false,
      reason: 'not-a-number',
    });
    expect(applyIncrement(doc, { pointer: '/a/hasOwnProperty', by: 1 }).ok).toBe(true);
    expect(doc).toStrictEqual({ a: { hasOwnProperty: 1 } });
  });

  it('leaves the document unchanged when it refuses', () => {
    const doc: JsonObject = { n: 1, s: 'x' };
    applyIncrement(doc, { pointer: '/n', by: -2, minimum: 0 });
    applyIncrement(doc, { pointer: '/s', by: 1 });
    expect(doc).toStrictEqual({ n: 1, s: 'x' });
  });

  it('rejects a malformed pointer and a non-finite amount as caller errors', () => {
    let error: unknown;
    try {
      applyIncrement({}, { pointer: 'n', by: 1 });
    } catch (e) {
      error = e;
    }
    expect(isPointerSyntaxError(error)).toBe(true);
    expect(() => applyIncrement({}, { pointer: '/n~2', by: 1 })).toThrow();
    expect(() => applyIncrement({ n: 1 }, { pointer: '/n', by: Number.NaN })).toThrow(RangeError);
    expect(() => applyIncrement({ n: 1 }, { pointer: '/n', by: Infinity })).toThrow(RangeError);
    // An overflowing sum is refused like any crossed bound, never stored as null.
    expect(applyIncrement({ n: Number.MAX_VALUE }, { pointer: '/n', by: Number.MAX_VALUE })).toEqual({
      ok: false,
      reason: 'out-of-bounds',
      value: Number.MAX_VALUE,
      bound: 'maximum',
      limit: Number.MAX_VALUE,
    });
    expect(applyIncrement({ n: -Number.MAX_VALUE }, { pointer: '/n', by: -Number.MAX_VALUE })).toMatchObject({
      bound: 'minimum',
    });
  });

  it('reports the tighter bound when an inclusive and an exclusive one are both crossed', () => {
    const at = (n: number, inc: Omit<Increment, 'pointer' | 'by'>) =>
      applyIncrement({ n }, { pointer: '/n', by: 0, ...inc });
    expect(at(0, { minimum: 1, exclusiveMinimum: 0 })).toMatchObject({ bound: 'minimum', limit: 1 });
    expect(at(0, { minimum: 0, exclusiveMinimum: 0 })).toMatchObject({ bound: 'minimum', limit: 0 });
    expect(at(0, { minimum: 0.5, exclusiveMinimum: 0.5 })).toMatchObject({ bound: 'minimum', limit: 0.5 });
    expect(at(9, { maximum: 5, exclusiveMaximum: 8 })).toMatchObject({ bound: 'maximum', limit: 5 });
    expect(at(9, { maximum: 8, exclusiveMaximum: 5 })).toMatchObject({ bound: 'maximum', limit: 5 });
    // A lower bound is reported before an upper one (only possible with contradictory bounds).
    expect(at(5, { minimum: 6, maximum: 4 })).toMatchObject({ bound: 'minimum', limit: 6 });
  });

  it('commits exactly when the sum is within every bound (property)', () => {
    const bound = fc.option(fc.integer({ min: -20, max: 20 }), { nil: undefined });
    fc.assert(
      fc.property(
        fc.integer({ min: -20, max: 20 }),
        fc.integer({ min: -20, max: 20 }),
        fc.record({ minimum: bound, maximum: bound, exclusiveMinimum: bound, exclusiveMaximum: bound }),
        (value, by, bounds) => {
          const doc: JsonObject = { n: value };
          const result = applyIncrement(doc, { pointer: '/n', by, ...bounds });
          const next = value + by;
          const within =
            (bounds.minimum === undefined || next >= bounds.minimum) &&
            (bounds.maximum === undefined || next <= bounds.maximum) &&
            (bounds.exclusiveMinimum === undefined || next > bounds.exclusiveMinimum) &&
            (bounds.exclusiveMaximum === undefined || next < bounds.exclusiveMaximum);
          expect(result.ok).toBe(within);
          if (result.ok) expect(doc).toStrictEqual({ n: next });
          else if (result.reason === 'out-of-bounds') {
            expect(result.value).toBe(value);
            const crossed =
              result.bound === 'minimum'
                ? [bounds.minimum, bounds.exclusiveMinimum]
                : [bounds.maximum, bounds.exclusiveMaximum];
            expect(crossed).toContain(result.limit);
          }
        },
      ),
    );
  });
});
