/**
 * The extension members each problem type carries (SPEC 3.4), as types.
 */
import type { JsonObject, JsonValue } from './json.js';
import type { JsonPatchOperation } from './json-patch.js';

/** One located error, as in `validation-failed` and `malformed-request`. */
type PointerError = { pointer: string; message: string };

/**
 * One reason a request is malformed: a pointer into the body, or the header or query parameter
 * at fault.
 */
type RequestError = { pointer?: string; header?: string; parameter?: string; message: string };

/**
 * When the state that stood in the way was written and by whom (scenario 18: every conflict says
 * since when and by whom). Null for a state nobody wrote yet.
 */
type Provenance = { changedAt: string | null; changedBy: string | null };

/**
 * Every business rule one write breaks (unique constraints, a state change, its guard, collection
 * rules, references), so that a client can fix them all at once: the problem's own `code` is the
 * first of them, and `violations` lists each, the first included.
 */
type Violations = { violations?: Violation[] };

/** The problem codes a write's business-rule failures are reported with, together, in `violations`. */
export type ViolationCode =
  | 'unique-violation'
  | 'invalid-transition'
  | 'transition-guard-failed'
  | 'rule-violated'
  | 'dangling-reference';

/**
 * One broken business rule of a write, as listed in `violations`: its problem code and detail, and
 * the extension members that code carries.
 */
export type Violation = {
  [C in ViolationCode]: { code: C; detail: string } & Omit<ProblemMembers[C], 'violations'>;
}[ViolationCode];

/** For problem types that carry no extension members. */
type NoMembers = Record<never, never>;

/**
 * The extension members of each problem type, keyed by problem code. Every key listed here is
 * also listed, at runtime, in `problemTypes[code].members`.
 */
export interface ProblemMembers {
  /** `If-Match` or `If-Unmodified-Since` was false on a write, or a `Truce-Base` left history. */
  'stale-write': {
    currentEtag: string | null;
    /** The current representation, only when the caller could read it anyway. */
    current: JsonObject | null;
    changedAt: string | null;
    changedBy: string | null;
    yourEtag: string | null;
    /** A JSON Patch from the caller's version to the current one, while it is still in history. */
    changes?: JsonPatchOperation[];
  };
  'precondition-required': NoMembers;
  /** `existing` is the URL of the resource that already exists. */
  'already-exists': { existing: string } & Provenance;
  /** `currentVersion` is null when the resource does not exist. */
  'version-conflict': {
    currentVersion: number | null;
    yourVersion: number;
    current: JsonObject | null;
  } & Provenance;
  'edit-conflict': {
    /** Every overlapping leaf; `base`, `yours` or `theirs` is absent where the value did not exist. */
    conflicts: {
      pointer: string;
      base?: JsonValue;
      yours?: JsonValue;
      theirs?: JsonValue;
      changedBy: string | null;
      changedAt: string | null;
    }[];
    currentEtag: string;
    current: JsonObject | null;
  };
  /** `actual` is absent when nothing exists at `pointer`. */
  'test-failed': { pointer: string; expected: JsonValue; actual?: JsonValue };
  /** `existing` is the URL of the resource that holds the value. */
  'unique-violation': { fields: string[]; values: JsonValue[]; existing: string } & Provenance & Violations;
  'invalid-transition': {
    currentState: JsonValue;
    transition: string;
    allowedTransitions: string[];
  } & Provenance &
    Violations;
  'transition-guard-failed': { transition: string; errors: PointerError[] } & Provenance & Violations;
  'rule-violated': { rule: string; message: string; errors: PointerError[] } & Provenance & Violations;
  /** `examples` are URLs of some of the referencing resources. */
  'still-referenced': { referencedBy: { collection: string; count: number; examples: string[] }[] };
  insufficient: { pointer: string; current: number; by: number; minimum: number } & Provenance;
  'limit-exceeded': { pointer: string; current: number; by: number; maximum: number } & Provenance;
  /** `expiresAt` is an RFC 3339 timestamp. */
  locked: { lockedBy: string | null; expiresAt: string };
  'lock-token-mismatch': NoMembers;
  'idempotency-key-reused': NoMembers;
  'idempotency-in-flight': NoMembers;
  'dangling-reference': { pointer: string; collection: string; id: string } & Violations;
  'validation-failed': { errors: PointerError[] };
  'malformed-request': { errors: RequestError[] };
  'unsupported-media-type': NoMembers;
  /** `limit` is the maximum body size in bytes. */
  'payload-too-large': { limit: number };
  /** `limit` is the most bytes of JSON the results of one batch may hold. */
  'results-too-large': { limit: number };
  'not-found': NoMembers;
  /** `oldestAvailable` is the oldest change-feed sequence number still retained. */
  'history-expired': { oldestAvailable: number };
  busy: NoMembers;
  'outcome-unknown': NoMembers;
  'precondition-failed': { currentEtag: string | null };
  /** A JSON Patch operation could not be applied to the current state (RFC 5789 2.2, conflicting state). */
  'patch-conflict': { operationIndex: number; pointer: string };
  'method-not-allowed': NoMembers;
  /** A simple (unpreflighted) cross-site request on an unsafe method, from an origin not allowed. */
  'cross-origin-refused': NoMembers;
  /** `timeout` is the limit that ran out, in seconds. */
  'request-timeout': { timeout: number };
  'uri-too-long': NoMembers;
  'headers-too-large': NoMembers;
  'internal-error': NoMembers;
  // The gateway's own answers (SPEC 5.2).
  'no-route': NoMembers;
  unauthenticated: NoMembers;
  /** Where the consumer's subscription to the route stands. */
  'subscription-required': {
    subscription: 'none' | 'pending' | 'rejected' | 'revoked';
    route: string;
  };
  /** The route's limit that was reached, and when a request may pass again. */
  'rate-limited': { limit: number; window: number; retryAfter: number; unit: 'requests' | 'tokens' };
  'bad-gateway': NoMembers;
  'upstream-timeout': { timeout: number };
  'no-healthy-upstream': { upstream: string };
  /** When the route stopped being served, and what replaces it. */
  sunset: { sunset: string; successor: string | null };
  // The gateway's AI routes (docs/ai.md).
  /** Every provider model of the alias refused for its rate limit (the last one's words are kept). */
  'model-rate-limited': ModelFailure & { retryAfter: number | null };
  /** Every provider model of the alias failed, timed out or could not be reached. */
  'model-unavailable': ModelFailure & { retryAfter: number | null };
  /** The provider, or the gateway before it, refused the request as malformed. */
  'model-request-invalid': ModelFailure & { errors: PointerError[] };
  /** The messages do not fit the model's context window. */
  'context-too-long': ModelFailure;
  /** The model's answer is not the JSON the prompt's output schema asks for. */
  'model-output-invalid': { prompt: string; errors: PointerError[]; output: string };
  /** The prompt exists but is not in the `published` state. */
  'prompt-not-published': { prompt: string; state: string };
  /** The call's If-Match names a prompt version that is no longer the published one. */
  'prompt-changed': { prompt: string; yourEtag: string; publishedEtag: string | null };
  /** Another turn continued the same conversation version first; `won` is that turn. */
  'turn-conflict': { conversation: string; yourEtag: string; currentEtag: string; won: unknown };
  /** The conversation's last turn is still being answered. */
  'turn-in-progress': { conversation: string; turn: string; since: string };
}

/** What an AI route says about the provider model that failed (docs/ai.md). */
interface ModelFailure {
  /** The alias the client named. */
  alias: string;
  /** The last provider and model tried, and what it answered (its own message, kept verbatim). */
  provider: string;
  model: string;
  providerStatus: number | null;
  providerMessage: string;
  /** Every provider model tried, in order. */
  attempts: { provider: string; model: string; status: number | null; code: string }[];
}

/** The stable kebab-case name of a problem type, the `code` member of every problem body. */
export type ProblemCode = keyof ProblemMembers;
