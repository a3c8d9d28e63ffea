import secureJson from 'secure-json-parse';
import type { FastifyInstance } from 'fastify';
import { MEDIA } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';

/**
 * Replaces Fastify's body parsers in this plugin's scope with strict JSON parsers for the three
 * media types. Bodies are read as text up to `bodyLimit`, parsed with prototype-poisoning keys
 * (`__proto__`, `constructor.prototype`) refused, and an empty body is `undefined` so that DELETE
 * and friends may carry a Content-Type without content.
 */
export function registerBodyParsers(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  for (const type of Object.values(MEDIA)) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit }, (_request, text, done) => {
      const body = String(text);
      if (body.trim() === '') {
        done(null, undefined);
        return;
      }
      let value: unknown;
      try {
        value = secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' });
      } catch (error) {
        done(
          new ProblemError('malformed-request', 'The request body is not valid JSON.', {
            errors: [{ pointer: '', message: (error as Error).message }],
          }),
          undefined,
        );
        return;
      }
      const deepest = depthPointer(value, MAX_DEPTH);
      if (deepest !== undefined) {
        const message = `nested deeper than ${MAX_DEPTH} levels`;
        done(
          new ProblemError('malformed-request', `The request body is ${message}.`, {
            errors: [{ pointer: deepest, message }],
          }),
          undefined,
        );
        return;
      }
      done(null, value);
    });
  }
}

/**
 * Documents deeper than this are refused: nothing real needs more, and SQLite's JSON functions give
 * up around 1000 levels, which would make a stored document break every filtered list.
 */
export const MAX_DEPTH = 64;

/** The pointer of the first value nested deeper than `max`, or undefined. Iterative: no stack overflow on hostile input. */
function depthPointer(root: unknown, max: number): string | undefined {
  const stack: { value: unknown; depth: number; pointer: string }[] = [
    { value: root, depth: 0, pointer: '' },
  ];
  while (stack.length > 0) {
    const { value, depth, pointer } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= max) return pointer;
    for (const [key, child] of Object.entries(value)) {
      stack.push({
        value: child,
        depth: depth + 1,
        pointer: `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`,
      });
    }
  }
  return undefined;
}
