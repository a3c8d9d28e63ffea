/**
 * The writes of SPEC 3.2: create, replace, patch and delete. Each sends the ETag this client last
 * saw as `If-Match` (unless told otherwise), an `Idempotency-Key` kept across its retries, and the
 * `Lock-Token` of a lease it holds; each recognises its own lost acknowledgement (client/lost-ack.ts).
 */
import {
  applyJsonPatch,
  applyMergePatch,
  deepEqual,
  type JsonObject,
  type JsonPatchOperation,
  type JsonValue,
} from '@truce/protocol';
import { problemError } from '../http/problem.js';
import type { OperationScope } from '../http/timing.js';
import type { Outgoing } from '../http/transport.js';
import {
  learnFromRefusal,
  ok,
  operation,
  remember,
  request,
  resourcePath,
  writeHeaders,
  type ClientContext,
} from './context.js';
import { recoverLostAck, sendWrite } from './lost-ack.js';
import type { WriteOptions } from './options.js';
import { contentOf, fieldsOf, requireObject, type Snapshot } from './snapshot.js';

/** Options of `replace`. */
export interface ReplaceOptions extends WriteOptions {
  /** `'*'`: create only, refused with `already-exists` when the resource exists (no `If-Match` then). */
  readonly ifNoneMatch?: '*';
}

/** POST `/{c}`. */
export function createResource<T>(
  ctx: ClientContext,
  collection: string,
  body: unknown,
  options?: WriteOptions,
): Promise<Snapshot<T>> {
  return operation(ctx, options, async (scope) => {
    const doc = fieldsOf(requireObject(body, 'create: the body'));
    const id = typeof doc['id'] === 'string' ? doc['id'] : undefined;
    const headers = writeHeaders(ctx, resourcePath(collection), options, {
      ifMatch: false,
      idempotent: true,
    });
    const outgoing = { method: 'POST', path: resourcePath(collection), headers, body: doc };
    // Only a client-chosen id lets the client look for the create after `outcome-unknown`.
    const sent =
      id === undefined
        ? { exchange: await request(ctx, scope, outgoing) }
        : await sendWrite<T>(ctx, scope, resourcePath(collection, id), outgoing, (current) =>
            sameContent(current, doc),
          );
    // Found after `outcome-unknown` (never null: a missing resource is not a create's effect).
    if (!('exchange' in sent)) return sent.current!;
    const { exchange } = sent;
    if (ok(exchange)) {
      const created = exchange.body as { id?: unknown } | undefined;
      const path =
        typeof created?.id === 'string' ? resourcePath(collection, created.id) : resourcePath(collection);
      return remember<T>(ctx, path, exchange);
    }
    // A client-chosen id makes a create recognisable after a lost answer, even without keys.
    if (id !== undefined) {
      const path = resourcePath(collection, id);
      const recovered = await recoverLostAck<T>(ctx, scope, path, exchange, (current) =>
        sameContent(current, doc),
      );
      if (recovered?.current) return recovered.current;
    }
    throw problemError(exchange.response, exchange.body);
  });
}

/** PUT `/{c}/{id}`. */
export function replaceResource<T>(
  ctx: ClientContext,
  collection: string,
  id: string,
  body: unknown,
  options?: ReplaceOptions,
): Promise<Snapshot<T>> {
  const doc = fieldsOf(requireObject(body, 'replace: the body'));
  const createOnly = options?.ifNoneMatch === '*';
  return writeOne<T>(ctx, collection, id, options, {
    method: 'PUT',
    body: doc,
    extra: createOnly ? { 'if-none-match': '*' } : {},
    ifMatch: !createOnly,
    applied: (current) => sameContent(current, doc),
  });
}

/** PATCH `/{c}/{id}`: a merge patch (an object) or a JSON Patch (an array of operations). */
export function patchResource<T>(
  ctx: ClientContext,
  collection: string,
  id: string,
  patch: JsonObject | readonly JsonPatchOperation[],
  options?: WriteOptions,
): Promise<Snapshot<T>> {
  if (Array.isArray(patch)) {
    const operations = patch as readonly JsonPatchOperation[];
    return writeOne<T>(ctx, collection, id, options, {
      method: 'PATCH',
      body: operations,
      extra: { 'content-type': 'application/json-patch+json' },
      ifMatch: true,
      applied: (current) => {
        if (current === null) return false;
        const result = applyJsonPatch(current, operations);
        return result.ok && deepEqual(contentOf(result.value as JsonObject), contentOf(current));
      },
    });
  }
  const mergePatch = fieldsOf(requireObject(patch, 'patch: a merge patch'));
  return writeOne<T>(ctx, collection, id, options, {
    method: 'PATCH',
    body: mergePatch,
    extra: { 'content-type': 'application/merge-patch+json' },
    ifMatch: true,
    applied: (current) =>
      current !== null && deepEqual(applyMergePatch(contentOf(current), mergePatch), contentOf(current)),
  });
}

/** DELETE `/{c}/{id}`. */
export async function deleteResource(
  ctx: ClientContext,
  collection: string,
  id: string,
  options?: WriteOptions,
): Promise<void> {
  await writeOne(ctx, collection, id, options, {
    method: 'DELETE',
    extra: {},
    ifMatch: true,
    applied: (current) => current === null,
  });
}

interface WriteSpec {
  readonly method: 'PUT' | 'PATCH' | 'DELETE';
  readonly body?: JsonValue | readonly JsonPatchOperation[];
  readonly extra: Record<string, string>;
  readonly ifMatch: boolean;
  /** Whether the write's effect is in `current` (null: the resource does not exist). */
  readonly applied: (current: JsonObject | null) => boolean;
}

async function writeOne<T>(
  ctx: ClientContext,
  collection: string,
  id: string,
  options: WriteOptions | undefined,
  spec: WriteSpec,
): Promise<Snapshot<T>> {
  const path = resourcePath(collection, id);
  return operation(ctx, options, async (scope: OperationScope) => {
    const headers = {
      ...spec.extra,
      ...writeHeaders(ctx, path, options, { ifMatch: spec.ifMatch, idempotent: true }),
    };
    const outgoing: Outgoing = { method: spec.method, path, headers, body: spec.body };
    const sent = await sendWrite<T>(ctx, scope, path, outgoing, spec.applied);
    if (!('exchange' in sent)) return sent.current as Snapshot<T>;
    const { exchange } = sent;
    if (ok(exchange)) {
      if (exchange.status === 204 || exchange.body === undefined) {
        ctx.cache.delete(path);
        return undefined as unknown as Snapshot<T>;
      }
      return remember<T>(ctx, path, exchange);
    }
    const recovered = await recoverLostAck<T>(ctx, scope, path, exchange, spec.applied);
    if (recovered !== undefined) return recovered.current as Snapshot<T>;
    learnFromRefusal(ctx, path, exchange);
    throw problemError(exchange.response, exchange.body);
  });
}

function sameContent(current: JsonObject | null, doc: JsonObject): boolean {
  return current !== null && deepEqual(contentOf(current), contentOf(doc));
}
