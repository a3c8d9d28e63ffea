import { ACCEPT_PATCH } from '../shared/media.js';
import { isProblemError, ProblemError } from '../shared/problem-error.js';
import { isStoreOutcomeUnknownError, StoreBusyError } from '../store/types.js';

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
  // The store's own message (a database address, a driver error) goes to the log, not to the client.
  if (error instanceof StoreBusyError) {
    return new ProblemError(
      'busy',
      'The store could not take this request now, and nothing was written; retry shortly.',
      {},
      { 'retry-after': String(error.retryAfterSeconds) },
    );
  }
  if (isStoreOutcomeUnknownError(error)) {
    return new ProblemError(
      'outcome-unknown',
      'The connection to the database broke before it confirmed this write, so it may or may not have been applied. Repeat it with the same Idempotency-Key or the same If-Match; without either, read the resource first.',
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
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ProblemError('uri-too-long', 'A path segment is longer than 1000 characters.');
    case 'FST_ERR_BAD_URL':
      return new ProblemError('malformed-request', 'The request path is not valid percent-encoding.', {
        errors: [
          { message: 'a path segment has a % not followed by two hex digits, or decodes to invalid UTF-8' },
        ],
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
