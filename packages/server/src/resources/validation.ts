import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { ProblemError } from '../shared/problem-error.js';
import type { JsonObject, JsonValue } from '../store/types.js';
import { META_MEMBERS } from './representation.js';

/** One input error, located by a JSON Pointer into the request body. */
export interface FieldError {
  readonly pointer: string;
  readonly message: string;
}

/** Every schema error of a document, each with its pointer. */
export function schemaErrors(validate: ValidateFunction | undefined, doc: JsonObject): FieldError[] {
  if (!validate || validate(doc)) return [];
  return (validate.errors ?? []).map(toFieldError);
}

function toFieldError(e: ErrorObject): FieldError {
  if (e.keyword === 'required') {
    const missing = String(e.params['missingProperty']);
    return { pointer: `${e.instancePath}/${escapeToken(missing)}`, message: `is required` };
  }
  if (e.keyword === 'additionalProperties') {
    const extra = String(e.params['additionalProperty']);
    return { pointer: `${e.instancePath}/${escapeToken(extra)}`, message: 'is not allowed by the schema' };
  }
  return { pointer: e.instancePath, message: e.message ?? e.keyword };
}

function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** What a PUT/POST/merge-patch body says besides the user fields. */
export interface SplitBody {
  readonly doc: JsonObject;
  /** `id` member, when present. */
  readonly id: JsonValue | undefined;
  /** `_version` member, when present (an optimistic-concurrency check, SPEC 3.4 version-conflict). */
  readonly version: JsonValue | undefined;
  readonly errors: FieldError[];
}

/**
 * Separates user fields from the members the server owns. Clients may echo back what they read
 * (`id`, `_version`, `_createdAt`, `_updatedAt`, `_updatedBy`); any other `_` member is refused,
 * because user fields may not start with `_` (SPEC 3.1).
 */
export function splitBody(body: JsonObject): SplitBody {
  const doc: JsonObject = {};
  const errors: FieldError[] = [];
  let id: JsonValue | undefined;
  let version: JsonValue | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (key === 'id') id = value;
    else if (key === '_version') version = value;
    else if ((META_MEMBERS as readonly string[]).includes(key)) continue;
    else if (key.startsWith('_')) {
      errors.push({
        pointer: `/${escapeToken(key)}`,
        message: 'members starting with "_" are reserved for the server',
      });
    } else Object.defineProperty(doc, key, { value, enumerable: true, writable: true, configurable: true });
  }
  if (
    version !== undefined &&
    version !== null &&
    !(Number.isSafeInteger(version) && (version as number) > 0)
  ) {
    errors.push({ pointer: '/_version', message: 'must be a positive integer (the version you read)' });
  }
  return { doc, id, version, errors };
}

/** A 422 listing every error; the detail names the first. */
export function invalid(errors: FieldError[]): ProblemError {
  const first = errors[0]!;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return new ProblemError(
    'validation-failed',
    `${first.pointer || 'the document'} ${first.message}${more}.`,
    {
      errors,
    },
  );
}
