import { describe, expect, it } from 'vitest';
import type { ParsedPreconditions, PreconditionHeaders, Representation } from './preconditions.js';
import { evaluatePreconditions, hasWritePrecondition, parsePreconditions } from './preconditions.js';

const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);
const current: Representation = { etag: '"v2"', lastModified: new Date(T0 + 250) };
const at = (ms: number): string => new Date(ms).toUTCString();

function evaluate(method: string, headers: PreconditionHeaders, rep: Representation | null = current) {
  const parsed = parsePreconditions(headers);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return evaluatePreconditions(method, parsed.value, rep);
}

const proceed = { result: 'proceed' };
const notModified = { result: 'not-modified' };
const failed = (header: string) => ({ result: 'failed', failed: header });

describe('parsePreconditions', () => {
  it('parses every header', () => {
    const parsed = parsePreconditions({
      ifMatch: '"a", W/"b"',
      ifNoneMatch: '*',
      ifModifiedSince: 'Sun, 06 Nov 1994 08:49:37 GMT',
      ifUnmodifiedSince: 'Sunday, 06-Nov-94 08:49:37 GMT',
    });
    expect(parsed).toEqual({
      ok: true,
      value: {
        ifMatch: {
          any: false,
          tags: [
            { weak: false, opaque: 'a' },
            { weak: true, opaque: 'b' },
          ],
        },
        ifNoneMatch: { any: true },
        ifModifiedSince: new Date(Date.UTC(1994, 10, 6, 8, 49, 37)),
        ifUnmodifiedSince: new Date(Date.UTC(1994, 10, 6, 8, 49, 37)),
      },
    });
  });

  it('leaves absent headers out', () => {
    expect(parsePreconditions({})).toEqual({ ok: true, value: {} });
    expect(parsePreconditions({ ifMatch: undefined })).toEqual({ ok: true, value: {} });
  });

  it('reports every malformed entity-tag header', () => {
    expect(parsePreconditions({ ifMatch: 'abc', ifNoneMatch: '*, "x"' })).toEqual({
      ok: false,
      errors: [
        { header: 'If-Match', message: expect.any(String) },
        { header: 'If-None-Match', message: expect.any(String) },
      ],
    });
    expect(parsePreconditions({ ifMatch: '' }).ok).toBe(false);
  });

  it('ignores invalid dates (RFC 9110 sections 13.1.3 and 13.1.4)', () => {
    expect(parsePreconditions({ ifModifiedSince: 'yesterday', ifUnmodifiedSince: '2024-01-01' })).toEqual({
      ok: true,
      value: {},
    });
  });
});

describe('hasWritePrecondition', () => {
  it('counts If-Match, If-None-Match and If-Unmodified-Since, not If-Modified-Since', () => {
    const any = { any: true } as const;
    expect(hasWritePrecondition({})).toBe(false);
    expect(hasWritePrecondition({ ifModifiedSince: new Date() })).toBe(false);
    expect(hasWritePrecondition({ ifMatch: any })).toBe(true);
    expect(hasWritePrecondition({ ifNoneMatch: any })).toBe(true);
    expect(hasWritePrecondition({ ifUnmodifiedSince: new Date() })).toBe(true);
  });
});

describe('evaluatePreconditions: step 1, If-Match (13.1.1)', () => {
  it('* is true iff a current representation exists', () => {
    expect(evaluate('PUT', { ifMatch: '*' })).toEqual(proceed);
    expect(evaluate('PUT', { ifMatch: '*' }, null)).toEqual(failed('if-match'));
  });

  it('uses the strong comparison', () => {
    expect(evaluate('PUT', { ifMatch: '"v2"' })).toEqual(proceed);
    expect(evaluate('PUT', { ifMatch: '"v1", "v2"' })).toEqual(proceed);
    expect(evaluate('PUT', { ifMatch: '"v1"' })).toEqual(failed('if-match'));
    expect(evaluate('PUT', { ifMatch: 'W/"v2"' })).toEqual(failed('if-match'));
    expect(evaluate('PUT', { ifMatch: '"v2"' }, null)).toEqual(failed('if-match'));
  });

  it('fails GET too, with 412 rather than 304', () => {
    expect(evaluate('GET', { ifMatch: '"v1"' })).toEqual(failed('if-match'));
  });

  it('skips If-Unmodified-Since when present, true or not', () => {
    expect(evaluate('PUT', { ifMatch: '"v2"', ifUnmodifiedSince: at(T0 - 60_000) })).toEqual(proceed);
  });
});

describe('evaluatePreconditions: step 2, If-Unmodified-Since (13.1.4)', () => {
  it('is true when not modified after the date, at whole-second resolution', () => {
    expect(evaluate('PUT', { ifUnmodifiedSince: at(T0) })).toEqual(proceed);
    expect(evaluate('PUT', { ifUnmodifiedSince: at(T0 + 5000) })).toEqual(proceed);
    expect(evaluate('PUT', { ifUnmodifiedSince: at(T0 - 1000) })).toEqual(failed('if-unmodified-since'));
  });

  it('is ignored without a current representation', () => {
    expect(evaluate('PUT', { ifUnmodifiedSince: at(T0 - 1000) }, null)).toEqual(proceed);
  });
});

describe('evaluatePreconditions: step 3, If-None-Match (13.1.2)', () => {
  it('* is false iff a current representation exists: 412 for writes', () => {
    expect(evaluate('PUT', { ifNoneMatch: '*' })).toEqual(failed('if-none-match'));
    expect(evaluate('PUT', { ifNoneMatch: '*' }, null)).toEqual(proceed);
  });

  it('uses the weak comparison: 304 for GET and HEAD', () => {
    expect(evaluate('GET', { ifNoneMatch: '"v2"' })).toEqual(notModified);
    expect(evaluate('HEAD', { ifNoneMatch: 'W/"v2"' })).toEqual(notModified);
    expect(evaluate('GET', { ifNoneMatch: '"v1", W/"v2"' })).toEqual(notModified);
    expect(evaluate('GET', { ifNoneMatch: '"v1"' })).toEqual(proceed);
    expect(evaluate('GET', { ifNoneMatch: '*' })).toEqual(notModified);
    expect(evaluate('DELETE', { ifNoneMatch: 'W/"v2"' })).toEqual(failed('if-none-match'));
  });

  it('treats methods case-sensitively', () => {
    expect(evaluate('get', { ifNoneMatch: '"v2"' })).toEqual(failed('if-none-match'));
  });

  it('runs after a true If-Match', () => {
    expect(evaluate('PUT', { ifMatch: '"v2"', ifNoneMatch: '"v2"' })).toEqual(failed('if-none-match'));
    expect(evaluate('GET', { ifMatch: '*', ifNoneMatch: '"v2"' })).toEqual(notModified);
  });

  it('skips If-Modified-Since when present', () => {
    expect(evaluate('GET', { ifNoneMatch: '"v1"', ifModifiedSince: at(T0 + 5000) })).toEqual(proceed);
  });
});

describe('evaluatePreconditions: step 4, If-Modified-Since (13.1.3)', () => {
  it('is false (304) when not modified after the date, at whole-second resolution', () => {
    expect(evaluate('GET', { ifModifiedSince: at(T0) })).toEqual(notModified);
    expect(evaluate('HEAD', { ifModifiedSince: at(T0 + 5000) })).toEqual(notModified);
    expect(evaluate('GET', { ifModifiedSince: at(T0 - 1000) })).toEqual(proceed);
  });

  it('applies to GET and HEAD only, and only to an existing representation', () => {
    expect(evaluate('PUT', { ifModifiedSince: at(T0) })).toEqual(proceed);
    expect(evaluate('GET', { ifModifiedSince: at(T0) }, null)).toEqual(proceed);
  });
});

describe('evaluatePreconditions: step 5', () => {
  it('proceeds without preconditions', () => {
    expect(evaluatePreconditions('PUT', {}, current)).toEqual(proceed);
    expect(evaluatePreconditions('GET', {}, null)).toEqual(proceed);
  });

  it('throws on a malformed current ETag, a server bug', () => {
    const parsed: ParsedPreconditions = { ifMatch: { any: true } };
    expect(() => evaluatePreconditions('PUT', parsed, { etag: 'v2', lastModified: new Date() })).toThrow(
      TypeError,
    );
  });
});
