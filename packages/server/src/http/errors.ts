import { ACCEPT_PATCH } from '../shared/media.js';
import { isProblemError, ProblemError } from '../shared/problem-error.js';
import { StoreBusyError } from '../store/types.js';

interface FrameworkError {
  readonly code?: string;
  readonly statusCode?: number;
  readonly message: string;
}

/**
 * Maps anything thrown while handling a request to a problem. Fastify's own errors (body limits,
 * media types, broken framing) get their SPEC 3.4 codes; anything unexpected is a 500 whose body
 * says nothing about internals.
 */
export function toProblem(error: unknown, method: string, bodyLimit: number): ProblemError {
  if (isProblemError(error)) return error;
  if (error instanceof StoreBusyError) {
    return new ProblemError(
      'busy',
      `The store could not take this request now (${error.message}); retry shortly.`,
      {},
      { 'retry-after': String(error.retryAfterSeconds) },
    );
  }
  const e = error as FrameworkError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError('payload-too-large', 'The request body is larger than this server accepts.', {
        limit: bodyLimit,
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError(
        'unsupported-media-type',
        method === 'PATCH' ? `PATCH takes ${ACCEPT_PATCH}.` : 'This route takes application/json bodies.',
        {},
        method === 'PATCH' ? { 'accept-patch': ACCEPT_PATCH } : {},
      );
    default:
      break;
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ProblemError('malformed-request', e.message, {
      errors: [{ pointer: '', message: e.message }],
    });
  }
  return new ProblemError('internal-error', 'The server failed to handle this request; it has been logged.');
}
