/**
 * `@truce/protocol`: the pure, browser-safe protocol core shared by the Truce server, client and
 * gateway. Entity tags, RFC 9110 preconditions and HTTP dates, the problem type registry, and
 * JSON Pointer, JSON Patch, JSON Merge Patch and JSON diff.
 *
 * @packageDocumentation
 */
export type { JsonObject, JsonPrimitive, JsonValue } from './json.js';
export { cloneJson, deepEqual, isForbiddenMember, isJsonObject } from './json.js';
export type { JsonTextError, StrictJsonOptions } from './strict-json.js';
export { parseStrictJson } from './strict-json.js';

export type { EntityTag, EntityTagCondition } from './etag.js';
export {
  formatEntityTag,
  parseEntityTag,
  parseEntityTagCondition,
  strongCompare,
  weakCompare,
} from './etag.js';

export { formatHttpDate, parseHttpDate } from './http-date.js';

export type {
  HeaderError,
  ParsedPreconditions,
  PreconditionHeaders,
  PreconditionOutcome,
  Representation,
} from './preconditions.js';
export { evaluatePreconditions, hasWritePrecondition, parsePreconditions } from './preconditions.js';
export {
  MAX_IDEMPOTENCY_KEY_LENGTH,
  parseIdempotencyKey,
  type IdempotencyKeyResult,
} from './idempotency-key.js';

export type {
  Problem,
  ProblemCode,
  ProblemMembers,
  ProblemType,
  Resolution,
  Violation,
  ViolationCode,
} from './problems.js';
export { createProblem, isProblemCode, PROBLEM_TYPE_BASE, problemTypes } from './problems.js';
export { problemDocumentation, problemsMarkdown, type ProblemPage } from './problem-docs.js';

export {
  formatPointer,
  getByPointer,
  isPointerSyntaxError,
  parsePointer,
  PointerSyntaxError,
} from './pointer.js';

export { applyMergePatch } from './merge-patch.js';

export type { JsonPatchFailure, JsonPatchOperation } from './json-patch.js';
export { applyJsonPatch, validateJsonPatch } from './json-patch.js';

export { diffJson } from './diff.js';

export type { CompiledMergePolicy, MergePolicy } from './merge/policy.js';
export { compileMergePolicy } from './merge/policy.js';
export type { MergeConflict, MergeResult } from './merge/merge-json.js';
export { mergeJson } from './merge/merge-json.js';
export type { TextMergeConflict, TextMergeResult } from './merge/merge-text.js';
export { mergeText } from './merge/merge-text.js';
export { originIssue } from './origin.js';
