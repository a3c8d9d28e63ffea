/**
 * Lost-acknowledgement detection (SPEC 4: "A retried write that gets stale-write but whose effect
 * is already in the current version is a success").
 *
 * A write whose answer never arrived may have been applied. Its retry carries the same
 * `Idempotency-Key`, so a server that supports keys (Truce does) answers with the stored answer of
 * the first attempt. A server that ignores keys runs the retry as a new request, and the retry
 * fails its own precondition: the `If-Match` it carries names the version the lost write
 * replaced. Only in that situation (an attempt that may have been applied, then a refusal of the
 * kind the write's own success would cause) the client reads the current state and asks whether the
 * write's effect is there: the same fields for a PUT, a merge patch that changes nothing any more,
 * a resource that is gone for a DELETE. If it is, the write succeeded; someone else making the very
 * same change in between is indistinguishable, and just as good for the caller.
 *
 * A server that lost track of a write itself (503 `outcome-unknown`: its database connection broke
 * before the commit was confirmed) says so outright. A keyed write is sent again as it is (the
 * transport does that, and the server replays the first outcome); a write without a key is not
 * repeated blindly: the client first reads the resource, and sends the write again only when its
 * effect is missing (`sendWrite`).
 */
import { cloneJson, type JsonObject } from '@truce/protocol';
import type { OperationScope } from '../http/timing.js';
import type { Exchange, Outgoing } from '../http/transport.js';
import { backoffFor } from '../retry/policy.js';
import { retryAfterMs } from '../retry/retry-after.js';
import { currentFromProblem, readCurrent, request, type ClientContext } from './context.js';
import type { Snapshot } from './snapshot.js';

/** Codes a repeated write gets when its first attempt was applied. */
const OWN_REFUSALS = new Set(['stale-write', 'version-conflict', 'already-exists', 'precondition-failed']);

/**
 * After a refused answer: the current state, if the refusal can be the write's own earlier success
 * and `applied` finds the write's effect in it. `null` means "the resource is gone" (and that is the
 * effect, for a delete); `undefined` means the refusal stands.
 */
export async function recoverLostAck<T>(
  ctx: ClientContext,
  scope: OperationScope,
  path: string,
  exchange: Exchange,
  applied: (current: JsonObject | null) => boolean,
): Promise<{ current: Snapshot<T> | null } | undefined> {
  if (!exchange.uncertain || !couldBeOwn(exchange)) return undefined;
  const current =
    exchange.status === 404 || exchange.status === 410
      ? null
      : (currentFromProblem<T>(exchange.body) ?? (await readCurrent<T>(ctx, scope, path)));
  if (!applied(current === null ? null : (current.data as JsonObject))) return undefined;
  // The write's own version is the one to base the next write on.
  if (current === null) ctx.cache.delete(path);
  else if (current.etag !== null) ctx.cache.set(path, current.etag, cloneJson(current.data as JsonObject));
  return { current };
}

/** Whether the server answered that it does not know whether the write was applied. */
export function isOutcomeUnknown(exchange: Exchange): boolean {
  return (
    exchange.status === 503 && (exchange.body as { code?: unknown } | undefined)?.code === 'outcome-unknown'
  );
}

/**
 * Sends a write to the resource at `path`. After `outcome-unknown` to a write without an
 * Idempotency-Key (which the transport does not repeat), reads the resource: when `applied` finds the
 * write's effect there, that is the write's success; when not, the write is sent again, within the
 * retry policy's attempts and the operation's deadline. The last answer is marked uncertain, so the
 * caller's {@link recoverLostAck} also recognises a `stale-write` caused by the write's own success.
 */
export async function sendWrite<T>(
  ctx: ClientContext,
  scope: OperationScope,
  path: string,
  outgoing: Outgoing,
  applied: (current: JsonObject | null) => boolean,
): Promise<{ exchange: Exchange } | { current: Snapshot<T> | null }> {
  const keyed = outgoing.headers?.['idempotency-key'] !== undefined;
  const { retry, timers } = ctx.transport;
  let exchange = await request(ctx, scope, outgoing);
  for (let attempt = 1; !keyed && isOutcomeUnknown(exchange); attempt++) {
    const recovered = await recoverLostAck<T>(ctx, scope, path, exchange, applied);
    if (recovered !== undefined) return recovered;
    if (attempt >= retry.attempts) break;
    const { headers } = exchange.response;
    const wait =
      retryAfterMs(headers.get('retry-after'), headers.get('date'), timers.now()) ??
      backoffFor(retry, attempt, exchange.status, timers.random);
    if (wait > retry.capMs || timers.now() + wait > scope.deadline) break;
    await timers.sleep(wait, scope.signal);
    exchange = { ...(await request(ctx, scope, outgoing)), uncertain: true };
  }
  return { exchange };
}

function couldBeOwn(exchange: Exchange): boolean {
  // The server itself does not know: only the current state can tell.
  if (isOutcomeUnknown(exchange)) return true;
  if (exchange.status === 412 || exchange.status === 404 || exchange.status === 410) return true;
  const code = (exchange.body as { code?: unknown } | undefined)?.code;
  return exchange.status === 409 && typeof code === 'string' && OWN_REFUSALS.has(code);
}
