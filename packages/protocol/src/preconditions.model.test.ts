/**
 * evaluatePreconditions against a reference model written as a decision table: the model works on
 * the generated inputs directly (no parsing, no comparison helpers from the library), computes the
 * truth value of each header, and looks the outcome up in RFC 9110 section 13.2.2 as a table.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatHttpDate } from './http-date.js';
import { evaluatePreconditions, parsePreconditions } from './preconditions.js';

type Tag = { weak: boolean; opaque: string };
type TagHeader = { kind: 'absent' } | { kind: 'star' } | { kind: 'list'; tags: Tag[] };
type DateHeader = { kind: 'absent' } | { kind: 'invalid' } | { kind: 'date'; seconds: number };
type Current = { opaque: string; seconds: number; ms: number } | null;
type Case = {
  method: string;
  ifMatch: TagHeader;
  ifNoneMatch: TagHeader;
  ifModifiedSince: DateHeader;
  ifUnmodifiedSince: DateHeader;
  current: Current;
};

// A small space of tags and instants, so that matches and ties are frequent.
const BASE_SECONDS = 1_700_000_000;
const opaque = fc.constantFrom('a', 'b', 'c');
const tag = fc.record({ weak: fc.boolean(), opaque });
const tagHeader: fc.Arbitrary<TagHeader> = fc.oneof(
  fc.constant({ kind: 'absent' as const }),
  fc.constant({ kind: 'star' as const }),
  fc.record({ kind: fc.constant('list' as const), tags: fc.array(tag, { minLength: 1, maxLength: 3 }) }),
);
const seconds = fc.integer({ min: BASE_SECONDS - 3, max: BASE_SECONDS + 3 });
const dateHeader: fc.Arbitrary<DateHeader> = fc.oneof(
  fc.constant({ kind: 'absent' as const }),
  fc.constant({ kind: 'invalid' as const }),
  fc.record({ kind: fc.constant('date' as const), seconds }),
);
const current: fc.Arbitrary<Current> = fc.option(
  fc.record({ opaque, seconds, ms: fc.integer({ min: 0, max: 999 }) }),
);
const testCase: fc.Arbitrary<Case> = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'),
  ifMatch: tagHeader,
  ifNoneMatch: tagHeader,
  ifModifiedSince: dateHeader,
  ifUnmodifiedSince: dateHeader,
  current,
});

// ---- the model -------------------------------------------------------------------------------

type Truth = 'absent' | 'true' | 'false';
type Outcome = 'proceed' | 'not-modified' | 'if-match' | 'if-unmodified-since' | 'if-none-match';
const ANY = '*';
type Cell<T> = T | typeof ANY;

// Columns: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, GET or HEAD.
// The first matching row wins, in the order of the steps of RFC 9110 section 13.2.2.
const TABLE: [Cell<Truth>, Cell<Truth>, Cell<Truth>, Cell<Truth>, Cell<boolean>, Outcome][] = [
  ['false', ANY, ANY, ANY, ANY, 'if-match'], // step 1
  ['absent', 'false', ANY, ANY, ANY, 'if-unmodified-since'], // step 2
  [ANY, ANY, 'false', ANY, true, 'not-modified'], // step 3, GET/HEAD
  [ANY, ANY, 'false', ANY, false, 'if-none-match'], // step 3, other methods
  [ANY, ANY, 'absent', 'false', true, 'not-modified'], // step 4
  [ANY, ANY, ANY, ANY, ANY, 'proceed'], // step 5
];

function truthOfTags(header: TagHeader, cur: Current, comparison: 'strong' | 'weak'): Truth {
  if (header.kind === 'absent') return 'absent';
  const exists = cur !== null;
  const listed =
    header.kind === 'list' &&
    cur !== null &&
    header.tags.some((t) => t.opaque === cur.opaque && (comparison === 'weak' || !t.weak));
  if (comparison === 'strong') return (header.kind === 'star' ? exists : listed) ? 'true' : 'false';
  return (header.kind === 'star' ? exists : listed) ? 'false' : 'true';
}

function truthOfDate(header: DateHeader, cur: Current, holdsWhenModifiedAfter: boolean): Truth {
  // An invalid date is ignored, and without a representation there is no date to compare.
  if (header.kind !== 'date' || cur === null) return 'absent';
  const modifiedAfter = cur.seconds > header.seconds;
  return modifiedAfter === holdsWhenModifiedAfter ? 'true' : 'false';
}

function model(c: Case): Outcome {
  const getOrHead = c.method === 'GET' || c.method === 'HEAD';
  const row = [
    truthOfTags(c.ifMatch, c.current, 'strong'),
    truthOfDate(c.ifUnmodifiedSince, c.current, false),
    truthOfTags(c.ifNoneMatch, c.current, 'weak'),
    truthOfDate(c.ifModifiedSince, c.current, true),
    getOrHead,
  ];
  const hit = TABLE.find((cells) => row.every((value, i) => cells[i] === ANY || cells[i] === value));
  return hit?.[5] ?? 'proceed';
}

// ---- rendering the case as a request -----------------------------------------------------------

function renderTags(header: TagHeader): string | undefined {
  if (header.kind === 'absent') return undefined;
  if (header.kind === 'star') return '*';
  return header.tags.map((t) => `${t.weak ? 'W/' : ''}"${t.opaque}"`).join(', ');
}

function renderDate(header: DateHeader): string | undefined {
  if (header.kind === 'absent') return undefined;
  if (header.kind === 'invalid') return 'not a date';
  return formatHttpDate(new Date(header.seconds * 1000));
}

describe('evaluatePreconditions agrees with the decision-table model', () => {
  it('for random headers, methods and current states', () => {
    fc.assert(
      fc.property(testCase, (c) => {
        const parsed = parsePreconditions({
          ifMatch: renderTags(c.ifMatch),
          ifNoneMatch: renderTags(c.ifNoneMatch),
          ifModifiedSince: renderDate(c.ifModifiedSince),
          ifUnmodifiedSince: renderDate(c.ifUnmodifiedSince),
        });
        if (!parsed.ok) throw new Error('generated headers must parse');
        const rep =
          c.current === null
            ? null
            : {
                etag: `"${c.current.opaque}"`,
                lastModified: new Date(c.current.seconds * 1000 + c.current.ms),
              };
        const actual = evaluatePreconditions(c.method, parsed.value, rep);
        const expected = model(c);
        const summary = actual.result === 'failed' ? actual.failed : actual.result;
        expect(summary).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
