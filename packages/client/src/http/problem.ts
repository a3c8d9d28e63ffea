/**
 * Reading an answer's body, and turning a refused answer into a {@link TruceProblemError}.
 */
import type { Problem, Resolution } from '@truce/protocol';
import { TruceProblemError, type ProblemOf } from '../errors/problem-error.js';

/** Parses a body: JSON for JSON media types (`application/json`, `application/problem+json`, ...), else text. */
export function parseBody(text: string, contentType: string | null): unknown {
  if (text === '') return undefined;
  if (contentType !== null && /[/+]json\b/i.test(contentType)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * The problem an answer carries. A body that is not a problem document (a bare 412 from a plain
 * HTTP server, an HTML error page from a proxy) becomes `about:blank` with the status (RFC 9457
 * section 4.2) and the code `http-<status>`.
 */
export function problemOf(status: number, statusText: string, body: unknown): ProblemOf {
  if (isProblemBody(body)) return body as ProblemOf;
  const detail = typeof body === 'string' ? body.slice(0, 500) : '';
  const problem: Problem = {
    type: 'about:blank',
    title: statusText || `HTTP ${status}`,
    status,
    detail,
    code: `http-${status}`,
    retryable: status === 408 || status === 429 || status >= 500,
    resolution: (status === 412 ? 'refetch-merge-retry' : 'none') satisfies Resolution,
  };
  return problem as ProblemOf;
}

/** The error for a refused answer. */
export function problemError(response: Response, body: unknown): TruceProblemError {
  return new TruceProblemError(problemOf(response.status, response.statusText, body), response);
}

function isProblemBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  return typeof b['code'] === 'string' && typeof b['status'] === 'number';
}
