import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { OperationResult } from '../resources/context.js';
import { problemBody, type ProblemError } from '../shared/problem-error.js';

/** Sends a handler's result as JSON (or with no body). */
export function sendResult(reply: FastifyReply, result: OperationResult): FastifyReply {
  reply.code(result.status).headers(result.headers);
  if (result.body === undefined) return reply.send();
  if (!result.headers['content-type']) reply.type('application/json; charset=utf-8');
  // A stream (a list page, item by item) goes out as the socket takes it.
  if (result.body instanceof Readable) return reply.send(result.body);
  // A string body is already rendered (an HTML page, a cached document); anything else is JSON.
  return reply.send(typeof result.body === 'string' ? result.body : JSON.stringify(result.body));
}

/** Sends an RFC 9457 problem. */
export function sendProblem(
  reply: FastifyReply,
  error: ProblemError,
  instance: string,
  typeBase: string,
): FastifyReply {
  const body = problemBody(error, instance, typeBase);
  return reply
    .code(body['status'] as number)
    .headers(error.headers)
    .type('application/problem+json; charset=utf-8')
    .send(JSON.stringify(body));
}
