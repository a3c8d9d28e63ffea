import type { ServerResponse } from 'node:http';
import { createProblem, problemDocumentation, type ProblemCode, type ProblemMembers } from '@truce/protocol';

/** A problem the gateway answers itself (SPEC 5.2 table), before or instead of the upstream. */
export class GatewayProblem extends Error {
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly members: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

/** Builds a {@link GatewayProblem} with members checked against the registry's types. */
export function gatewayProblem<C extends ProblemCode>(
  code: C,
  detail: string,
  members: { [K in keyof ProblemMembers[C]]?: ProblemMembers[C][K] } = {},
  headers: Record<string, string> = {},
): GatewayProblem {
  return new GatewayProblem(code, detail, members as Record<string, unknown>, headers);
}

/** The problem+json text of a gateway answer. */
export function problemText(problem: GatewayProblem, instance: string): { status: number; body: string } {
  const body = createProblem(problem.code, {
    detail: problem.detail,
    instance,
    ...(problem.members as Record<string, never>),
  });
  return { status: body.status, body: JSON.stringify(body) };
}

/**
 * Writes a gateway problem, unless the response already started (then the connection is cut, which
 * is the only honest signal left). Returns the status and body length, for the call log.
 */
export function sendProblem(
  res: ServerResponse,
  problem: GatewayProblem,
  instance: string,
  extraHeaders: Record<string, string | string[]> = {},
): { status: number; bytes: number; body: string } {
  const { status, body } = problemText(problem, instance);
  if (res.headersSent) {
    res.destroy();
    return { status: res.statusCode, bytes: 0, body: '' };
  }
  res.writeHead(status, {
    ...extraHeaders,
    ...problem.headers,
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
  return { status, bytes: Buffer.byteLength(body), body };
}

/**
 * `GET /_problems/{code}`: the registry's page for a code, HTML or JSON by Accept (with `Vary`),
 * or undefined for a code the registry does not know.
 */
export function problemPage(
  code: string,
  accept: string | undefined,
): { type: string; body: string } | undefined {
  return problemDocumentation(code, accept);
}
