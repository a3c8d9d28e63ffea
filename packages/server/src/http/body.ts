import { isUtf8 } from 'node:buffer';
import { parseStrictJson } from '@truce/protocol';
import type { FastifyInstance } from 'fastify';
import { MEDIA } from '../shared/media.js';
import { ProblemError } from '../shared/problem-error.js';
import { invalidUtf8Offset } from './utf8.js';

/**
 * Replaces Fastify's body parsers in this plugin's scope with strict JSON parsers for the three
 * media types. Bodies are read as bytes up to `bodyLimit` and must be UTF-8 (RFC 8259 section
 * 8.1); decoding never substitutes U+FFFD. The text is then parsed by `parseStrictJson`, which
 * refuses duplicate member names, numbers that would not be kept as written, prototype-poisoning
 * names and deep nesting, each with its pointer. An empty body is `undefined` so that DELETE and
 * friends may carry a Content-Type without content.
 */
export function registerBodyParsers(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  for (const type of Object.values(MEDIA)) {
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit }, (_request, raw, done) => {
      try {
        done(null, parseBody(raw as Buffer));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
  }
}

/**
 * Documents deeper than this are refused: nothing real needs more, and SQLite's JSON functions give
 * up around 1000 levels, which would make a stored document break every filtered list.
 */
export const MAX_DEPTH = 64;

/** The JSON value of a request body, `undefined` when it is empty, or a `malformed-request` problem. */
export function parseBody(raw: Buffer): unknown {
  // isUtf8 is simdutf underneath: far cheaper than a fatal TextDecoder, and the same verdict.
  if (!isUtf8(raw)) {
    const offset = invalidUtf8Offset(raw);
    const message = `invalid UTF-8 at byte offset ${offset}`;
    throw new ProblemError('malformed-request', `The request body is not UTF-8: ${message}.`, {
      errors: [{ pointer: '', message }],
    });
  }
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  const parsed = parseStrictJson(text, { maxDepth: MAX_DEPTH });
  if (parsed.ok) return parsed.value;
  const first = parsed.errors[0]!;
  const more = parsed.errors.length > 1 ? ` (and ${parsed.errors.length - 1} more)` : '';
  const detail = parsed.syntax
    ? 'The request body is not valid JSON.'
    : `The request body is refused: ${first.pointer || 'the document'} ${first.message}${more}.`;
  throw new ProblemError('malformed-request', detail, { errors: parsed.errors });
}
