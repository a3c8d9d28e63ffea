/**
 * The problem type registry (SPEC 3.4, RFC 9457): every error code the server can send, with its
 * status, title, resolution and documentation. Codes are never reused or renamed.
 */
import { defineMember, hasMember } from './json.js';
import type { ProblemCode, ProblemMembers } from './problem-members.js';
import type { Definition } from './problem-registry.js';
import { definitions } from './problem-registry.js';

export type { ProblemCode, ProblemMembers, Violation, ViolationCode } from './problem-members.js';

/**
 * What a client should do about a problem: re-read, merge and send again; pick another value for
 * a unique field; add the missing precondition; wait and repeat the same request; correct the
 * request; or nothing automatic (a person or the calling code has to decide).
 */
export type Resolution =
  | 'refetch-merge-retry'
  | 'choose-another-value'
  | 'fulfil-precondition'
  | 'wait-and-retry'
  | 'fix-input'
  | 'none';

/** One registry entry: everything the server and the documentation need about a problem code. */
export interface ProblemType<C extends ProblemCode = ProblemCode> {
  readonly code: C;
  /** The default HTTP status; some codes are sent with another one (see `description`). */
  readonly status: number;
  /** A short, stable, human-readable title (the problem body's `title`). */
  readonly title: string;
  /**
   * Whether repeating the identical request later can succeed without the client changing
   * anything. Conflicts resolved by refetch-merge-retry are `false`: the retry is a new request.
   */
  readonly retryable: boolean;
  readonly resolution: Resolution;
  /** One sentence: what happened. */
  readonly summary: string;
  /** A paragraph: why it happens and what the client should do next. */
  readonly description: string;
  /** The names of the extension members the body carries (the keys of {@link ProblemMembers}). */
  readonly members: readonly string[];
  /** Response headers sent with this problem where they apply (`Retry-After`, `Link`, ...). */
  readonly headers?: readonly string[];
}

/** Where problem type URIs live: `type` is this base followed by the code. */
export const PROBLEM_TYPE_BASE = '/_problems/';

/**
 * An `application/problem+json` body (RFC 9457) with Truce's `code`, `retryable` and `resolution`
 * members, plus the extension members of its code.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  retryable: boolean;
  resolution: Resolution;
  [member: string]: unknown;
}

function freezeEntry<C extends ProblemCode>(code: C, definition: Definition<C>): ProblemType<C> {
  const { headers, members, ...rest } = definition;
  const entry: ProblemType<C> = {
    code,
    ...rest,
    members: Object.freeze(Object.keys(members)),
    ...(headers === undefined ? {} : { headers: Object.freeze([...headers]) }),
  };
  return Object.freeze(entry);
}

/** The registry: every problem code with its {@link ProblemType}. Frozen. */
export const problemTypes: { readonly [C in ProblemCode]: ProblemType<C> } = Object.freeze(
  Object.fromEntries(
    (Object.keys(definitions) as ProblemCode[]).map((code) => [code, freezeEntry(code, definitions[code])]),
  ) as { [C in ProblemCode]: ProblemType<C> },
);

/** Whether `value` is a registered problem code. */
export function isProblemCode(value: unknown): value is ProblemCode {
  return typeof value === 'string' && hasMember(problemTypes, value);
}

/**
 * Builds a problem body for `code` from the registry entry and the given details.
 *
 * `status` overrides the registry's default, for the cases SPEC 3.4 sends with another status
 * (`already-exists` with 412 for `If-None-Match: *`, `stale-write` with 409, `locked` with 409).
 * Only the extension members registered for the code are copied, and `undefined` ones are left
 * out. `type` is `typeBase` (default {@link PROBLEM_TYPE_BASE}) followed by the code.
 */
export function createProblem<C extends ProblemCode>(
  code: C,
  init: { detail: string; instance?: string; status?: number; typeBase?: string } & {
    // Partial<ProblemMembers[C]> that also takes an explicit `undefined`, so that optional data
    // (`changes: maybeChanges`) can be passed straight through under exactOptionalPropertyTypes.
    [K in keyof ProblemMembers[C]]?: ProblemMembers[C][K] | undefined;
  },
): Problem & { code: C } {
  const entry: ProblemType = problemTypes[code];
  const problem: Problem & { code: C } = {
    type: (init.typeBase ?? PROBLEM_TYPE_BASE) + code,
    title: entry.title,
    status: init.status ?? entry.status,
    detail: init.detail,
    ...(init.instance === undefined ? {} : { instance: init.instance }),
    code,
    retryable: entry.retryable,
    resolution: entry.resolution,
  };
  const source = init as Record<string, unknown>;
  for (const name of entry.members) {
    if (hasMember(source, name) && source[name] !== undefined) defineMember(problem, name, source[name]);
  }
  return problem;
}
