import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ProblemCode, ProblemMembers, Resolution } from './problems.js';
import { createProblem, isProblemCode, PROBLEM_TYPE_BASE, problemTypes } from './problems.js';

const codes = Object.keys(problemTypes) as ProblemCode[];
const RESOLUTIONS: readonly Resolution[] = [
  'refetch-merge-retry',
  'choose-another-value',
  'fulfil-precondition',
  'wait-and-retry',
  'fix-input',
  'none',
];
const errors = [{ pointer: '/name', message: 'is required' }];

// One complete value per code. `Required<...>` makes the compiler insist on every member, and the
// object literals reject unknown ones, so these keys are exactly the keys of ProblemMembers.
const samples: { [C in ProblemCode]: Required<ProblemMembers[C]> } = {
  'stale-write': {
    currentEtag: '"v3"',
    current: { id: '1' },
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
    yourEtag: '"v2"',
    changes: [{ op: 'replace', path: '/name', value: 'x' }],
  },
  'precondition-required': {},
  'already-exists': { existing: '/things/1', changedAt: '2024-01-01T00:00:00Z', changedBy: 'ann' },
  'version-conflict': {
    currentVersion: 3,
    yourVersion: 2,
    current: { id: '1' },
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
  },
  'edit-conflict': {
    conflicts: [{ pointer: '/a', base: 1, yours: 2, theirs: 3, changedBy: null, changedAt: null }],
    currentEtag: '"v3"',
    current: null,
  },
  'test-failed': { pointer: '/a', expected: 1, actual: 2 },
  'unique-violation': {
    fields: ['email'],
    values: ['a@example.com'],
    existing: '/users/1',
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
    violations: [
      {
        code: 'unique-violation',
        detail: 'email "a@example.com" is already taken by /users/1; choose another value.',
        fields: ['email'],
        values: ['a@example.com'],
        existing: '/users/1',
        changedAt: '2024-01-01T00:00:00Z',
        changedBy: 'ann',
      },
      {
        code: 'dangling-reference',
        detail: 'team refers to teams/9',
        pointer: '/team',
        collection: 'teams',
        id: '9',
      },
    ],
  },
  'invalid-transition': {
    currentState: 'shipped',
    transition: 'cancel',
    allowedTransitions: ['deliver'],
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
    violations: [],
  },
  'transition-guard-failed': {
    transition: 'ship',
    errors,
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
    violations: [],
  },
  'rule-violated': {
    rule: 'endAfterStart',
    message: 'end must be after start',
    errors,
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
    violations: [],
  },
  'still-referenced': { referencedBy: [{ collection: 'orders', count: 2, examples: ['/orders/1'] }] },
  insufficient: {
    pointer: '/stock',
    current: 1,
    by: -2,
    minimum: 0,
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
  },
  'limit-exceeded': {
    pointer: '/stock',
    current: 9,
    by: 2,
    maximum: 10,
    changedAt: '2024-01-01T00:00:00Z',
    changedBy: 'ann',
  },
  locked: { lockedBy: 'bob', expiresAt: '2024-01-01T00:00:30Z' },
  'lock-token-mismatch': {},
  'idempotency-key-reused': {},
  'idempotency-in-flight': {},
  'dangling-reference': { pointer: '/customer', collection: 'customers', id: '9', violations: [] },
  'validation-failed': { errors },
  'malformed-request': { errors },
  'unsupported-media-type': {},
  'payload-too-large': { limit: 1_048_576 },
  'results-too-large': { limit: 8_388_608 },
  'not-found': {},
  'history-expired': { oldestAvailable: 42 },
  busy: {},
  'outcome-unknown': {},
  'precondition-failed': { currentEtag: '"3-x"' },
  'patch-conflict': { operationIndex: 1, pointer: '/a/b' },
  'method-not-allowed': {},
  'cross-origin-refused': {},
  'request-timeout': { timeout: 30 },
  'uri-too-long': {},
  'headers-too-large': {},
  'internal-error': {},
  'no-route': {},
  unauthenticated: {},
  'subscription-required': { subscription: 'revoked', route: 'shop' },
  'rate-limited': { limit: 100, window: 60, retryAfter: 3, unit: 'requests' },
  'bad-gateway': {},
  'upstream-timeout': { timeout: 30000 },
  'no-healthy-upstream': { upstream: 'shop' },
  sunset: { sunset: '2027-06-30T00:00:00.000Z', successor: '/v2' },
  'model-rate-limited': { ...modelFailure(429), retryAfter: 20 },
  'model-unavailable': { ...modelFailure(503), retryAfter: null },
  'model-request-invalid': { ...modelFailure(400), errors: [{ pointer: '/messages', message: 'is empty' }] },
  'context-too-long': modelFailure(400),
  'model-output-invalid': {
    prompt: 'summarise',
    errors: [{ pointer: '/title', message: 'is required' }],
    output: '{}',
  },
  'prompt-not-published': { prompt: 'summarise', state: 'draft' },
  'prompt-changed': { prompt: 'summarise', yourEtag: '"3-x"', publishedEtag: '"4-y"' },
  'turn-conflict': { conversation: 'c1', yourEtag: '"3-x"', currentEtag: '"4-y"', won: { id: 't1' } },
  'turn-in-progress': { conversation: 'c1', turn: 't1', since: '2026-12-04T10:00:00.000Z' },
};

function modelFailure(status: number) {
  return {
    alias: 'fast',
    provider: 'openai',
    model: 'gpt-4o-mini',
    providerStatus: status,
    providerMessage: 'the provider said so',
    attempts: [{ provider: 'openai', model: 'gpt-4o-mini', status, code: 'model-unavailable' }],
  };
}

describe('problemTypes', () => {
  it('holds every code of SPEC 3.4 plus the server codes, with their statuses', () => {
    const statuses = Object.fromEntries(codes.map((code) => [code, problemTypes[code].status]));
    expect(statuses).toEqual({
      'stale-write': 412,
      'precondition-required': 428,
      'already-exists': 409,
      'version-conflict': 409,
      'edit-conflict': 409,
      'test-failed': 409,
      'unique-violation': 409,
      'invalid-transition': 409,
      'transition-guard-failed': 409,
      'rule-violated': 409,
      'still-referenced': 409,
      insufficient: 409,
      'limit-exceeded': 409,
      locked: 423,
      'lock-token-mismatch': 409,
      'idempotency-key-reused': 422,
      'idempotency-in-flight': 409,
      'dangling-reference': 422,
      'validation-failed': 422,
      'malformed-request': 400,
      'unsupported-media-type': 415,
      'payload-too-large': 413,
      'results-too-large': 413,
      'not-found': 404,
      'history-expired': 410,
      busy: 503,
      'outcome-unknown': 503,
      'precondition-failed': 412,
      'patch-conflict': 409,
      'method-not-allowed': 405,
      'cross-origin-refused': 403,
      'request-timeout': 408,
      'uri-too-long': 414,
      'headers-too-large': 431,
      'internal-error': 500,
      'no-route': 404,
      unauthenticated: 401,
      'subscription-required': 403,
      'rate-limited': 429,
      'bad-gateway': 502,
      'upstream-timeout': 504,
      'no-healthy-upstream': 503,
      sunset: 410,
      'model-rate-limited': 429,
      'model-unavailable': 503,
      'model-request-invalid': 400,
      'context-too-long': 413,
      'model-output-invalid': 502,
      'prompt-not-published': 409,
      'prompt-changed': 412,
      'turn-conflict': 412,
      'turn-in-progress': 409,
    });
  });

  it.each(codes)('%s is complete and consistent', (code) => {
    const entry = problemTypes[code];
    expect(entry.code).toBe(code);
    expect(code).toMatch(/^[a-z]+(?:-[a-z]+)*$/);
    expect(entry.status).toBeGreaterThanOrEqual(400);
    expect(entry.status).toBeLessThan(600);
    expect(entry.title.length).toBeGreaterThan(0);
    expect(entry.summary).toMatch(/^[A-Z`].*\.$/);
    expect(entry.description.length).toBeGreaterThan(entry.summary.length);
    expect(RESOLUTIONS).toContain(entry.resolution);
    expect(typeof entry.retryable).toBe('boolean');
    expect([...entry.members].sort()).toEqual(Object.keys(samples[code]).sort());
    expect(Object.isFrozen(entry)).toBe(true);
    expect(Object.isFrozen(entry.members)).toBe(true);
  });

  it('marks exactly the wait-and-retry codes retryable', () => {
    for (const code of codes) {
      expect(problemTypes[code].retryable, code).toBe(problemTypes[code].resolution === 'wait-and-retry');
    }
  });

  it('picks the resolutions the protocol relies on', () => {
    const resolution = (code: ProblemCode): Resolution => problemTypes[code].resolution;
    for (const code of ['stale-write', 'version-conflict', 'edit-conflict', 'test-failed'] as const) {
      expect(resolution(code)).toBe('refetch-merge-retry');
    }
    expect(resolution('precondition-required')).toBe('fulfil-precondition');
    expect(resolution('unique-violation')).toBe('choose-another-value');
    expect(resolution('already-exists')).toBe('choose-another-value');
    for (const code of ['locked', 'idempotency-in-flight', 'busy', 'outcome-unknown'] as const) {
      expect(resolution(code)).toBe('wait-and-retry');
    }
    for (const code of ['validation-failed', 'malformed-request', 'payload-too-large'] as const) {
      expect(resolution(code)).toBe('fix-input');
    }
  });

  it('lists Retry-After and Link where SPEC 3.4 sends them', () => {
    for (const code of ['locked', 'idempotency-in-flight', 'busy', 'outcome-unknown'] as const) {
      expect(problemTypes[code].headers).toContain('Retry-After');
    }
    for (const code of codes.filter((c) => [409, 412].includes(problemTypes[c].status))) {
      expect(problemTypes[code].headers, code).toContain('Link');
    }
  });

  it('is frozen', () => {
    expect(Object.isFrozen(problemTypes)).toBe(true);
  });
});

describe('isProblemCode', () => {
  it('accepts registered codes only', () => {
    expect(isProblemCode('stale-write')).toBe(true);
    expect(isProblemCode('nope')).toBe(false);
    expect(isProblemCode('constructor')).toBe(false);
    expect(isProblemCode('__proto__')).toBe(false);
    expect(isProblemCode(412)).toBe(false);
  });
});

describe('createProblem', () => {
  it.each(codes)('%s carries all registered members', (code) => {
    const problem = createProblem(code, { detail: 'd', ...samples[code] } as Parameters<
      typeof createProblem
    >[1]);
    expect(problem).toEqual({
      type: `${PROBLEM_TYPE_BASE}${code}`,
      title: problemTypes[code].title,
      status: problemTypes[code].status,
      detail: 'd',
      code,
      retryable: problemTypes[code].retryable,
      resolution: problemTypes[code].resolution,
      ...samples[code],
    });
  });

  it('takes instance, a status override and a type base', () => {
    const problem = createProblem('already-exists', {
      detail: 'exists',
      instance: '/things/1',
      status: 412,
      typeBase: 'https://api.example.com/_problems/',
      existing: '/things/1',
    });
    expect(problem).toMatchObject({
      type: 'https://api.example.com/_problems/already-exists',
      status: 412,
      instance: '/things/1',
      code: 'already-exists',
      existing: '/things/1',
    });
    expect(Object.keys(problem)).toEqual([
      'type',
      'title',
      'status',
      'detail',
      'instance',
      'code',
      'retryable',
      'resolution',
      'existing',
    ]);
  });

  it('accepts explicit undefined for optional members', () => {
    expect(
      createProblem('test-failed', { detail: 'x', pointer: '/a', expected: 1, actual: undefined }),
    ).not.toHaveProperty('actual');
  });

  it('leaves out undefined members and members the code does not have', () => {
    const init = { detail: 'x', currentEtag: null, changes: undefined, other: 1 };
    const problem = createProblem(
      'stale-write',
      init as unknown as Parameters<typeof createProblem<'stale-write'>>[1],
    );
    expect(problem).not.toHaveProperty('changes');
    expect(problem).not.toHaveProperty('other');
    expect(problem).not.toHaveProperty('instance');
    expect(problem['currentEtag']).toBeNull();
  });

  it('is typed by code', () => {
    expectTypeOf(createProblem('busy', { detail: 'x' }).code).toEqualTypeOf<'busy'>();
    expectTypeOf<Parameters<typeof createProblem<'locked'>>[1]>().toHaveProperty('lockedBy');
  });
});
