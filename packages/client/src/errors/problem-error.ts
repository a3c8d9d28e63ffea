/**
 * `TruceProblemError`: every answer the server refused, with its `application/problem+json` body
 * (RFC 9457) parsed and typed by its `code` (SPEC 3.4, SPEC 4).
 */
import type { Problem, ProblemCode, ProblemMembers } from '@truce/protocol';
import { brand, hasBrand, PROBLEM_ERROR } from './brand.js';

/**
 * The problem body of `code`: the RFC 9457 members, Truce's `code`, `retryable` and `resolution`,
 * and the extension members the registry of `@truce/protocol` lists for that code. A code the
 * registry does not know (a newer server, or `http-<status>` for an answer that was not a problem
 * document) has only the common members.
 */
export type ProblemOf<C extends string = string> = C extends ProblemCode
  ? Problem & { readonly code: C } & Readonly<ProblemMembers[C]>
  : Problem & { readonly code: C };

/**
 * A request the server refused: the parsed problem, its status and code, and the raw `Response`
 * (whose body has been read into `problem`).
 *
 * `instanceof TruceProblemError` and {@link isProblem} recognise errors thrown by any copy of this
 * package, through a `Symbol.for` brand.
 */
export class TruceProblemError<C extends string = string> extends Error {
  /** The parsed problem body, typed by `code`. */
  readonly problem: ProblemOf<C>;
  /** The problem's `code` (`http-<status>` when the body was not a problem document). */
  readonly code: C;
  /** The HTTP status of the answer. */
  readonly status: number;
  /** Whether repeating the same request later can succeed (the problem's `retryable`). */
  readonly retryable: boolean;
  /** The answer as received; its body was read into {@link TruceProblemError.problem}. */
  readonly response: Response;

  constructor(problem: ProblemOf<C>, response: Response, options?: { cause?: unknown }) {
    super(`${problem.status} ${problem.code}: ${problem.detail || problem.title}`, options);
    this.name = 'TruceProblemError';
    this.problem = problem;
    this.code = problem.code as C;
    this.status = problem.status;
    this.retryable = problem.retryable;
    this.response = response;
    brand(this, PROBLEM_ERROR);
  }

  /** Recognises errors of every copy of this package, not only of this class object. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, PROBLEM_ERROR);
  }
}

/**
 * Whether `error` is a {@link TruceProblemError}, with one of `code` when given; narrows the
 * problem's members to those of the code:
 *
 * ```ts
 * if (isProblem(err, 'unique-violation')) console.log(err.problem.fields, err.problem.existing);
 * ```
 *
 * Works for errors thrown by another copy of this package.
 */
export function isProblem<C extends ProblemCode>(
  error: unknown,
  code: C | readonly C[],
): error is TruceProblemError<C>;
export function isProblem(error: unknown, code?: string | readonly string[]): error is TruceProblemError;
export function isProblem(error: unknown, code?: string | readonly string[]): boolean {
  if (!hasBrand(error, PROBLEM_ERROR)) return false;
  if (code === undefined) return true;
  const actual = (error as { code?: unknown }).code;
  return typeof code === 'string' ? actual === code : code.includes(actual as string);
}
