import { createProblem, type ProblemCode, type ProblemMembers } from '@truce/protocol';

/** Extension members of a problem code; undefined members are left out of the body. */
export type MembersOf<C extends ProblemCode> = {
  [K in keyof ProblemMembers[C]]?: ProblemMembers[C][K] | undefined;
};

/**
 * A problem raised inside request handling. Handlers throw it; the plugin's error handler turns it
 * into an `application/problem+json` reply (RFC 9457) with its headers.
 */
export class ProblemError<C extends ProblemCode = ProblemCode> extends Error {
  override readonly name = 'ProblemError';
  constructor(
    readonly code: C,
    readonly detail: string,
    readonly members: MembersOf<C> & { readonly status?: number } = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(`${code}: ${detail}`);
  }
}

/** Brand check that also works across two copies of this package. */
export function isProblemError(value: unknown): value is ProblemError {
  return value instanceof Error && (value as { name?: unknown }).name === 'ProblemError' && 'code' in value;
}

/** Builds the RFC 9457 body for a problem error. */
export function problemBody(
  error: ProblemError,
  instance: string,
  typeBase: string,
): Record<string, unknown> {
  const { status, ...members } = error.members as Record<string, unknown> & { status?: number };
  return createProblem(error.code, {
    ...(members as Partial<ProblemMembers[ProblemCode]>),
    detail: error.detail,
    instance,
    typeBase,
    ...(status === undefined ? {} : { status }),
  });
}
