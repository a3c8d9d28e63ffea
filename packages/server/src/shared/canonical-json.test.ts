import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';

/** The first implementation, whose output fingerprints already stored were hashed from. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

describe('canonical JSON', () => {
  it('is the text the first implementation gave, for any JSON value and any key order', () => {
    const key = fc.oneof(fc.string(), fc.constantFrom('a', 'B', 'é', '\u{1F600}', '__proto__', '10', '9'));
    const value = fc.letrec((tie) => ({
      json: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.double({ noNaN: true }),
        fc.integer(),
        fc.string(),
        fc.constant(undefined),
        fc.array(tie('json'), { maxLength: 5 }),
        fc.dictionary(key, tie('json'), { maxKeys: 6 }),
      ),
    })).json;
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 2000 },
    );
  });
  it('sorts keys by code unit and leaves undefined members out', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }], B: null, é: 2, z: undefined })).toBe(
      '{"B":null,"a":[1,{"c":"x"}],"b":1,"é":2}',
    );
    expect(canonicalJson(undefined)).toBe('null');
  });
});
