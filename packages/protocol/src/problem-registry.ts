/**
 * The data of the problem type registry (SPEC 3.4): one entry per code. `problems.ts` turns it into
 * the frozen `problemTypes` export; this file is only the table, so it reads like documentation.
 *
 * @internal Not re-exported from the package entry point.
 */
import type { ProblemCode, ProblemMembers } from './problem-members.js';
import type { ProblemType } from './problems.js';

/**
 * A registry entry as written here. Members are an object of names so that the compiler checks
 * them against ProblemMembers: a missing or extra name is a type error, not a runtime surprise.
 */
export type Definition<C extends ProblemCode> = Omit<ProblemType<C>, 'code' | 'members'> & {
  readonly members: { readonly [K in keyof ProblemMembers[C]]-?: true };
};

const RESOURCE_LINK = ['Link'] as const;

/** Every problem code's entry, in the order of SPEC 3.4 followed by the server's own codes. */
export const definitions: { readonly [C in ProblemCode]: Definition<C> } = {
  'stale-write': {
    status: 412,
    title: 'The resource changed since you read it',
    retryable: false,
    resolution: 'refetch-merge-retry',
    summary: 'The write was refused because its If-Match or If-Unmodified-Since no longer holds.',
    description:
      'Someone else wrote the resource after the version your request was based on, so applying your write would have overwritten their change. The body names the current ETag, who changed it and when, and, while your version is still in history, `changes`: a JSON Patch from your version to the current one. Re-read the resource (or use `current`), reapply your edit to it, and send the write again with the new ETag in If-Match. Collections configured with `staleWriteStatus: 409` send this with 409.',
    members: {
      currentEtag: true,
      current: true,
      changedAt: true,
      changedBy: true,
      yourEtag: true,
      changes: true,
    },
    headers: RESOURCE_LINK,
  },
  'precondition-required': {
    status: 428,
    title: 'This write needs a precondition',
    retryable: false,
    resolution: 'fulfil-precondition',
    summary:
      'The write carried no If-Match, If-Unmodified-Since or If-None-Match, and this collection requires one.',
    description:
      'The collection sets `requirePreconditions`, so unconditional writes are refused: they could silently overwrite a concurrent change. Read the resource first and send its ETag in If-Match (or `If-None-Match: *` to create only). The current ETag is deliberately not included, since echoing it back would defeat the purpose.',
    members: {},
  },
  'already-exists': {
    status: 409,
    title: 'The resource already exists',
    retryable: false,
    resolution: 'choose-another-value',
    summary: 'A create-only write found a resource already at that identity.',
    description:
      'A POST named an `id` that is taken (409), or a PUT with `If-None-Match: *` found the resource present (412). `existing` is its URL. Choose another id, or, if you meant to change the existing resource, read it and update it with If-Match.',
    members: { existing: true, changedAt: true, changedBy: true },
    headers: RESOURCE_LINK,
  },
  'version-conflict': {
    status: 409,
    title: 'The _version in the body is not the current one',
    retryable: false,
    resolution: 'refetch-merge-retry',
    summary: 'The `_version` sent in the body differs from the version the resource has now.',
    description:
      'A `_version` in a PUT or PATCH body works like If-Match: the write is based on that version, and the resource has moved on since. `currentVersion` and `current` show where it is now. Reapply your change to the current version and send it with the new `_version`.',
    members: { currentVersion: true, yourVersion: true, current: true, changedAt: true, changedBy: true },
    headers: RESOURCE_LINK,
  },
  'edit-conflict': {
    status: 409,
    title: 'Your edit overlaps a concurrent edit',
    retryable: false,
    resolution: 'refetch-merge-retry',
    summary:
      'Merging your edit with changes made since its Truce-Base found fields both sides changed differently.',
    description:
      'The server tried a three-way merge of your edit with the edits made since the base you named in Truce-Base; disjoint changes would have merged, but the fields in `conflicts` were changed on both sides to different values. Each entry shows the base value, yours and theirs, and who changed it. Decide each conflicting field (or ask the user), then send the result against `currentEtag`.',
    members: { conflicts: true, currentEtag: true, current: true },
    headers: RESOURCE_LINK,
  },
  'test-failed': {
    status: 409,
    title: 'A JSON Patch test operation failed',
    retryable: false,
    resolution: 'refetch-merge-retry',
    summary:
      'A `test` operation in the JSON Patch found a different value, so none of the patch was applied.',
    description:
      'JSON Patch is atomic: the `test` at `pointer` expected `expected` but found `actual` (absent when nothing is there), so the whole patch was rejected. The resource changed in a way your patch guards against. Re-read it, rebuild the patch from the current state, and send it again.',
    members: { pointer: true, expected: true, actual: true },
    headers: RESOURCE_LINK,
  },
  'unique-violation': {
    status: 409,
    title: 'A unique value is already taken',
    retryable: false,
    resolution: 'choose-another-value',
    summary: 'The write would give a unique field (or combination of fields) a value another resource holds.',
    description:
      'The collection declares `fields` unique and `existing` already holds `values`. Uniqueness is enforced by the store itself, so of several concurrent writers exactly one wins. Choose another value, or update the existing resource instead. When the write breaks several business rules at once (unique constraints, a change of the state field, a guard, collection rules, references), this code is the first of them and `violations` lists every one, each with its `code`, `detail` and the members of that code, so that they can all be fixed before trying again.',
    members: {
      fields: true,
      values: true,
      existing: true,
      changedAt: true,
      changedBy: true,
      violations: true,
    },
    headers: RESOURCE_LINK,
  },
  'invalid-transition': {
    status: 409,
    title: 'That transition is not allowed from the current state',
    retryable: false,
    resolution: 'none',
    summary: 'The requested state change is not allowed from the state the resource is in now.',
    description:
      'State fields change only along the transitions the collection allows, and this one is not allowed from `currentState` (this includes asking for the state the resource is already in). Often someone else moved the resource first. `allowedTransitions` lists what is possible now; repeating the request will not help, so show the new state to whoever decides what happens next. When a PUT or PATCH changed the state field and broke other business rules too, `violations` lists every one (this code first), each with its `code`, `detail` and the members of that code.',
    members: {
      currentState: true,
      transition: true,
      allowedTransitions: true,
      changedAt: true,
      changedBy: true,
      violations: true,
    },
    headers: RESOURCE_LINK,
  },
  'transition-guard-failed': {
    status: 409,
    title: 'The transition guard is not met',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The transition is allowed from this state, but the resource does not meet its guard.',
    description:
      'The transition requires the resource to satisfy conditions that it does not; `errors` points at each field that falls short. Supply the missing values (in the same transition request as a merge-patch body, or in a write before it) and try again. When the write breaks several business rules at once (unique constraints, a change of the state field, a guard, collection rules, references), this code is the first of them and `violations` lists every one, each with its `code`, `detail` and the members of that code, so that they can all be fixed before trying again.',
    members: { transition: true, errors: true, changedAt: true, changedBy: true, violations: true },
    headers: RESOURCE_LINK,
  },
  'rule-violated': {
    status: 409,
    title: 'A collection rule would be broken',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The resource as written would break one of the collection’s business rules.',
    description:
      'The write is well-formed but the result would violate `rule` (its `message` says why, `errors` points at the fields involved). Change the values so the rule holds, then send the write again. When the write breaks several business rules at once (unique constraints, a change of the state field, a guard, collection rules, references), this code is the first of them and `violations` lists every one, each with its `code`, `detail` and the members of that code, so that they can all be fixed before trying again.',
    members: { rule: true, message: true, errors: true, changedAt: true, changedBy: true, violations: true },
    headers: RESOURCE_LINK,
  },
  'still-referenced': {
    status: 409,
    title: 'Other resources still reference this one',
    retryable: false,
    resolution: 'none',
    summary: 'The delete was refused because other resources still point at this one.',
    description:
      'Deleting the resource would leave dangling references. `referencedBy` lists, per collection, how many resources refer to it and some examples. Remove or repoint those references first, then delete again.',
    members: { referencedBy: true },
    headers: RESOURCE_LINK,
  },
  insufficient: {
    status: 409,
    title: 'Not enough left',
    retryable: false,
    resolution: 'none',
    summary: 'The increment would take the value below its minimum.',
    description:
      'The value at `pointer` is `current`; adding `by` would cross `minimum`, so nothing changed. Concurrent decrements are applied atomically, so this is a real shortage, not a race: repeating the request will not help until the value goes up again. Ask for less or report the shortage.',
    members: { pointer: true, current: true, by: true, minimum: true, changedAt: true, changedBy: true },
    headers: RESOURCE_LINK,
  },
  'limit-exceeded': {
    status: 409,
    title: 'The limit would be exceeded',
    retryable: false,
    resolution: 'none',
    summary: 'The increment would take the value above its maximum.',
    description:
      'The value at `pointer` is `current`; adding `by` would cross `maximum`, so nothing changed. Ask for a smaller increment, or wait until the value has gone down.',
    members: { pointer: true, current: true, by: true, maximum: true, changedAt: true, changedBy: true },
    headers: RESOURCE_LINK,
  },
  locked: {
    status: 423,
    title: 'The resource is locked',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'Someone else holds a lease on the resource, and the write did not present its Lock-Token.',
    description:
      '`lockedBy` holds a lease until `expiresAt`; while it is live, only writes with its Lock-Token are accepted. Wait for the time in Retry-After and repeat the request; the lease is released or expires by then at the latest. Collections configured with `lockedStatus: 409` send this with 409.',
    members: { lockedBy: true, expiresAt: true },
    headers: ['Retry-After', 'Link'],
  },
  'lock-token-mismatch': {
    status: 409,
    title: 'The Lock-Token does not match the lease',
    retryable: false,
    resolution: 'none',
    summary: 'The renew or release named a Lock-Token that is not the current lease’s.',
    description:
      'Your lease has expired or been replaced by another holder’s, so work done under it is no longer protected. Take a new lease and re-check the resource before writing again.',
    members: {},
    headers: RESOURCE_LINK,
  },
  'idempotency-key-reused': {
    status: 422,
    title: 'The Idempotency-Key was used for another request',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The Idempotency-Key was already used with a different payload.',
    description:
      'An Idempotency-Key identifies one operation; replaying it returns the first response, but only for the same payload. Use a fresh key for a different request.',
    members: {},
  },
  'idempotency-in-flight': {
    status: 409,
    title: 'A request with this Idempotency-Key is still running',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'The first request with this Idempotency-Key has not finished yet.',
    description:
      'Another request with the same key is being processed. Wait for the time in Retry-After and repeat the request: you will then receive the first request’s response.',
    members: {},
    headers: ['Retry-After', 'Link'],
  },
  'dangling-reference': {
    status: 422,
    title: 'The referenced resource does not exist',
    retryable: false,
    resolution: 'fix-input',
    summary: 'A reference field points at a resource that does not exist.',
    description:
      'The field at `pointer` refers to `id` in `collection`, which does not exist (or no longer does). Create the referenced resource first, or correct the reference. When the write breaks several business rules at once (unique constraints, a change of the state field, a guard, collection rules, references), this code is the first of them and `violations` lists every one, each with its `code`, `detail` and the members of that code, so that they can all be fixed before trying again.',
    members: { pointer: true, collection: true, id: true, violations: true },
  },
  'validation-failed': {
    status: 422,
    title: 'The resource does not match its schema',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The resource as written does not match the collection’s schema.',
    description:
      '`errors` lists every violation, each with a JSON Pointer to the offending field. Correct them all and send the request again.',
    members: { errors: true },
  },
  'malformed-request': {
    status: 400,
    title: 'The request is malformed',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The request could not be understood: its body, a header or the id is malformed.',
    description:
      'Typical causes are a body that is not JSON, a JSON Patch document that is not valid, a malformed If-Match, or an id with characters ids may not have. `errors` points at each problem. Correct the request and send it again.',
    members: { errors: true },
  },
  'unsupported-media-type': {
    status: 415,
    title: 'Unsupported media type',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The body’s Content-Type is not one this route accepts.',
    description:
      'Send JSON as `application/json`; PATCH takes `application/merge-patch+json` or `application/json-patch+json`, as the Accept-Patch header lists.',
    members: {},
    headers: ['Accept-Patch'],
  },
  'payload-too-large': {
    status: 413,
    title: 'The body is too large',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The request body is larger than the server accepts.',
    description: 'The body exceeds `limit` bytes. Send a smaller body, for example by splitting the change.',
    members: { limit: true },
  },
  'results-too-large': {
    status: 413,
    title: 'The batch’s results are too large',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The results of a batch would exceed the bytes one batch answer may hold.',
    description:
      'The results of the operations of one batch may hold at most `limit` bytes of JSON. An atomic batch whose results would exceed it is refused whole and nothing is written; in a non-atomic batch a read that does not fit gets this problem as its result. Send the operations in several batches, or read large lists and resources with requests of their own.',
    members: { limit: true },
  },
  'not-found': {
    status: 404,
    title: 'Not found',
    retryable: false,
    resolution: 'none',
    summary: 'The collection, resource, version or transition does not exist.',
    description:
      'Nothing exists at this URL: the collection or transition is not configured, the resource was never created or has been deleted, or the version is not in its history. Check the URL.',
    members: {},
  },
  'history-expired': {
    status: 410,
    title: 'That history is no longer retained',
    retryable: false,
    resolution: 'none',
    summary: 'The change feed position asked for is older than the retained history.',
    description:
      'Changes before `oldestAvailable` have been discarded, so the feed cannot be resumed from `since` without gaps. Re-read the resources you follow in full, then continue the feed from `now`.',
    members: { oldestAvailable: true },
  },
  busy: {
    status: 503,
    title: 'The store is busy',
    retryable: true,
    resolution: 'wait-and-retry',
    summary:
      'The store stayed busy after the server’s own retries, or the server has as many change-feed streams open as it allows.',
    description:
      'Serialization failures or lock timeouts persisted, and nothing was written; or a change-feed stream was refused because the server, or this connection, has the most streams open it allows. Wait for the time in Retry-After and repeat the request (a stream refused for its connection: on another connection). A server that is shutting down answers requests still arriving on open connections this way too (the connection is then closed): repeat them on a new connection.',
    members: {},
    headers: ['Retry-After'],
  },
  'outcome-unknown': {
    status: 503,
    title: 'Whether the write was applied is unknown',
    retryable: true,
    resolution: 'wait-and-retry',
    summary:
      'The connection to the database broke after the write was sent and before its answer, so it may or may not have been applied.',
    description:
      'Unlike `busy`, this write may have taken effect. Repeating it is safe only as the same request: with the same Idempotency-Key (the server then answers with the outcome of the first attempt, or runs it if it was not applied), or with the same If-Match (a write that was applied makes the repeat fail with `stale-write`; read the resource to see whether your change is in it). Without either, read the resource first and repeat the write only if its effect is missing. Wait for the time in Retry-After.',
    members: {},
    headers: ['Retry-After'],
  },
  'precondition-failed': {
    status: 412,
    title: 'Precondition failed',
    retryable: false,
    resolution: 'none',
    summary:
      'A condition of the request was false: If-Match on a read, or an If-None-Match on a write that lists the current entity tag.',
    description:
      'The resource is not in the state the request was conditioned on; `currentEtag` says which version it is in. Re-read the resource and decide whether the request is still wanted.',
    members: { currentEtag: true },
    headers: RESOURCE_LINK,
  },
  'patch-conflict': {
    status: 409,
    title: 'The JSON Patch does not fit the current document',
    retryable: false,
    resolution: 'refetch-merge-retry',
    summary:
      'An operation of the JSON Patch addresses something the current document does not have (a missing member, an index out of range), so none of the patch was applied.',
    description:
      'JSON Patch is atomic: operation `operationIndex` could not be applied at `pointer` to the resource as it is now, which usually means it changed since the patch was written. Re-read the resource, rebuild the patch against the current state, and send it again.',
    members: { operationIndex: true, pointer: true },
    headers: RESOURCE_LINK,
  },
  'method-not-allowed': {
    status: 405,
    title: 'Method not allowed',
    retryable: false,
    resolution: 'none',
    summary: 'This URL does not support the request method.',
    description: 'The Allow header lists the methods this URL supports.',
    members: {},
    headers: ['Allow'],
  },
  'cross-origin-refused': {
    status: 403,
    title: 'Cross-site request refused',
    retryable: false,
    resolution: 'none',
    summary:
      'A request that could change state came from a page on another site, without a preflight, from an origin the server does not allow.',
    description:
      "Any web page can make a browser send a POST with no body, a form or a text/plain body to any server, without asking first (a \"simple\" request). Truce refuses such requests when the browser says they come from another site (`Sec-Fetch-Site`) or from an origin (`Origin`) that is neither the server's own nor in `cors.origins`, so that a page cannot run a transition, take a lease or write in its visitor's name. Clients that are not browsers send no `Origin` and are not affected. If your own web app was refused, add its origin to `cors.origins` in the server configuration; requests sent with `Content-Type: application/json` or any of Truce's own headers are preflighted by the browser and are not refused.",
    members: {},
  },
  'request-timeout': {
    status: 408,
    title: 'The request took too long to arrive',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'The request line, headers or body did not arrive within the time the server allows.',
    description:
      'The server answers 408 when a request is not complete within `timeouts.request`, or when its body stops arriving for `timeouts.bodyIdle` (`timeout` names the limit that ran out, in seconds), and closes the connection. Nothing was applied. Send the whole request again promptly; a client on a slow link can be given a longer limit in the configuration.',
    members: { timeout: true },
  },
  'uri-too-long': {
    status: 414,
    title: 'The URI is too long',
    retryable: false,
    resolution: 'fix-input',
    summary: 'A path segment of the request URI is longer than the server reads.',
    description:
      'Ids, collection names and other path segments are short; a segment beyond 1000 characters is refused before routing. Check how the URI is built: it probably carries data that belongs in the body.',
    members: {},
  },
  'headers-too-large': {
    status: 431,
    title: 'The request headers are too large',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The request line and headers together are larger than the server reads.',
    description:
      'The server reads at most 16 KiB of request line and headers (the Node.js default). Send fewer or shorter headers; large values (tokens, cookies) are the usual cause. The connection is closed after this answer.',
    members: {},
  },
  'internal-error': {
    status: 500,
    title: 'Internal server error',
    retryable: false,
    resolution: 'none',
    summary: 'The server failed unexpectedly.',
    description:
      'This is a bug or an outage, not something the request did wrong. Whether a write took effect is unknown: read the resource before repeating it, or repeat it with the same Idempotency-Key.',
    members: {},
  },
  'no-route': {
    status: 404,
    title: 'No route for this request',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The gateway has no route whose prefix and host match this request.',
    description:
      'Routes match by path prefix at segment boundaries, then by host. Check the URL against the gateway’s published routes; the request did not reach any upstream.',
    members: {},
  },
  unauthenticated: {
    status: 401,
    title: 'An API key is needed',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The route needs an API key, and the request carried none, or one the gateway does not know.',
    description:
      'Send the key as `Authorization: Bearer <key>` or `X-Api-Key: <key>`. A key that was deleted, or whose consumer was deleted, stops working at once. The request did not reach the upstream.',
    members: {},
    headers: ['WWW-Authenticate'],
  },
  'subscription-required': {
    status: 403,
    title: 'No approved subscription to this route',
    retryable: false,
    resolution: 'none',
    summary: 'The key is valid, but its consumer has no approved subscription to the route.',
    description:
      '`subscription` says where the consumer stands: `none` (request one), `pending` (an operator has not decided yet), `rejected`, or `revoked`. An operator approves subscriptions in the admin API; nothing the client sends changes this.',
    members: { subscription: true, route: true },
  },
  'rate-limited': {
    status: 429,
    title: 'Rate limit reached',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'The route’s rate limit for this consumer or address is used up for now.',
    description:
      'Wait for the seconds in Retry-After, then repeat the request. `limit` requests (or, when `unit` is `tokens`, model tokens on an AI route) are allowed per `window` seconds; the RateLimit and RateLimit-Policy headers on every answer of the route say how much is left. A refused request uses no quota.',
    members: { limit: true, window: true, retryAfter: true, unit: true },
    headers: ['Retry-After', 'RateLimit', 'RateLimit-Policy'],
  },
  'bad-gateway': {
    status: 502,
    title: 'The upstream failed',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'The upstream could not be reached, or broke off or garbled its answer.',
    description:
      'The gateway retries on another target only where that is safe (the request never reached an upstream, or it is idempotent). Whether a write took effect is unknown: repeat it with the same Idempotency-Key or If-Match, or read the resource first.',
    members: {},
  },
  'upstream-timeout': {
    status: 504,
    title: 'The upstream did not answer in time',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'No answer came from the upstream within the route’s response timeout (`timeout`, in ms).',
    description:
      'Reads are retried on another target; writes are not, since the upstream may still apply them. Repeat a write with the same Idempotency-Key or If-Match so that it applies at most once.',
    members: { timeout: true },
  },
  'no-healthy-upstream': {
    status: 503,
    title: 'No healthy upstream target',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'Every target of the route’s upstream is out of rotation (failed health checks or ejected).',
    description:
      'Active health checks have taken every target of the upstream (`upstream`) out, or passive checks ejected them after failures in a row. Nothing was sent upstream. Wait for Retry-After and repeat the request; an operator should look at the targets’ health.',
    members: { upstream: true },
    headers: ['Retry-After'],
  },
  sunset: {
    status: 410,
    title: 'This API has been retired',
    retryable: false,
    resolution: 'none',
    summary: 'The route’s sunset date (RFC 8594) has passed, so the gateway no longer serves it.',
    description:
      'Move to the successor the Link header (rel="successor-version") and `successor` name. The request did not reach the upstream.',
    members: { sunset: true, successor: true },
    headers: ['Link', 'Sunset'],
  },
  'model-rate-limited': {
    status: 429,
    title: 'The model provider is rate limiting',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'Every provider model behind the alias refused the call for its own rate limit.',
    description:
      'The gateway tried each provider model configured for the alias (`attempts`), and the last answered 429. `providerMessage` is the provider’s own words. Wait for Retry-After (the provider’s, when it sent one) and repeat the call; nothing was streamed and no tokens were charged.',
    members: {
      alias: true,
      provider: true,
      model: true,
      providerStatus: true,
      providerMessage: true,
      attempts: true,
      retryAfter: true,
    },
    headers: ['Retry-After'],
  },
  'model-unavailable': {
    status: 503,
    title: 'No model behind the alias is available',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'Every provider model behind the alias failed, timed out or could not be reached.',
    description:
      'The gateway tried each provider model configured for the alias in order (`attempts`) and moves to the next one on 429, 5xx, timeouts and connection errors, as long as nothing has been streamed yet. `providerMessage` is the last provider’s own words. Repeat the call later; an operator should look at the providers.',
    members: {
      alias: true,
      provider: true,
      model: true,
      providerStatus: true,
      providerMessage: true,
      attempts: true,
      retryAfter: true,
    },
    headers: ['Retry-After'],
  },
  'model-request-invalid': {
    status: 400,
    title: 'The model request is invalid',
    retryable: false,
    resolution: 'fix-input',
    summary: 'The chat request is not one the gateway or the provider accepts.',
    description:
      'Either the body is not a valid Chat Completions request (`errors` lists each problem with its JSON Pointer), the alias is unknown, or the provider refused it (`providerMessage` is its own words). Fix the request; repeating it unchanged gives the same answer.',
    members: {
      alias: true,
      provider: true,
      model: true,
      providerStatus: true,
      providerMessage: true,
      attempts: true,
      errors: true,
    },
  },
  'context-too-long': {
    status: 413,
    title: 'The conversation is longer than the model’s context',
    retryable: false,
    resolution: 'fix-input',
    summary:
      'The provider says the messages (and the room asked for the answer) do not fit the model’s context window.',
    description:
      'Shorten the messages, lower `max_tokens`, or use an alias whose models take longer contexts. `providerMessage` is the provider’s own words.',
    members: {
      alias: true,
      provider: true,
      model: true,
      providerStatus: true,
      providerMessage: true,
      attempts: true,
    },
  },
  'model-output-invalid': {
    status: 502,
    title: 'The model’s answer does not match the prompt’s output schema',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'A prompt with JSON output got an answer that is not JSON, or not valid against its schema.',
    description:
      '`errors` lists each problem with its JSON Pointer and `output` is what the model wrote. Models are not deterministic: repeating the call may succeed. If it keeps failing, the prompt’s template or schema needs work.',
    members: { prompt: true, errors: true, output: true },
  },
  'prompt-not-published': {
    status: 409,
    title: 'The prompt is not published',
    retryable: false,
    resolution: 'none',
    summary: 'Only published prompts can be called; this one is a draft or retired (`state`).',
    description:
      'Prompts move `draft → published → retired`. Publish the prompt (its `publish` transition) or call another one.',
    members: { prompt: true, state: true },
    headers: RESOURCE_LINK,
  },
  'prompt-changed': {
    status: 412,
    title: 'The prompt version you pinned is no longer the published one',
    retryable: false,
    resolution: 'fulfil-precondition',
    summary: 'The call’s If-Match names a prompt version other than the published one.',
    description:
      'Someone edited, republished or retired the prompt since you pinned it. `publishedEtag` is the version published now (null when none is): review it, then pin that, or call without If-Match to always use the published version.',
    members: { prompt: true, yourEtag: true, publishedEtag: true },
    headers: RESOURCE_LINK,
  },
  'turn-conflict': {
    status: 412,
    title: 'Another turn continued this conversation first',
    retryable: false,
    resolution: 'refetch-merge-retry',
    summary: 'Two turns continued the same conversation version; the other one was appended first.',
    description:
      'A conversation grows one turn per version, so that turns never interleave. `won` is the turn that continued your version, and `currentEtag` the version to continue now. Read the conversation, decide whether your message still makes sense after that turn, and send it again with the new ETag in If-Match.',
    members: { conversation: true, yourEtag: true, currentEtag: true, won: true },
    headers: RESOURCE_LINK,
  },
  'turn-in-progress': {
    status: 409,
    title: 'The conversation’s last turn is still being answered',
    retryable: true,
    resolution: 'wait-and-retry',
    summary: 'A turn on this conversation is waiting for the model; the next one must continue its answer.',
    description:
      'Wait for Retry-After, read the conversation again, and continue the version that holds the answer. A turn whose gateway died is given up after the AI route’s turn timeout.',
    members: { conversation: true, turn: true, since: true },
    headers: ['Retry-After', 'Link'],
  },
};
