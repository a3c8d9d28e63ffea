/**
 * Reads: one resource (conditional on the ETag last seen), one page of a collection, or all pages.
 */
import { cloneJson, isJsonObject, type JsonObject, type JsonValue } from '@truce/protocol';
import { problemError } from '../http/problem.js';
import { expectOk, operation, remember, request, resourcePath, type ClientContext } from './context.js';
import type { RequestOptions } from './options.js';
import type { Snapshot } from './snapshot.js';

/** Options of `get`. */
export interface GetOptions extends RequestOptions {
  /**
   * Ignore what this client last saw: no `If-None-Match`. By default a resource this client has
   * seen is read conditionally, and a `304 Not Modified` answers it from memory.
   */
  readonly fresh?: boolean;
}

/** Options of `list` and `listAll`. */
export interface ListOptions<T> extends RequestOptions {
  /** Equality filters on fields (`?field=value`), SPEC 3.2. */
  readonly filter?: { readonly [K in keyof T]?: T[K] & (string | number | boolean | null) };
  /** Page size, 1 to 1000 (server default 50). */
  readonly limit?: number;
  /** The `next` of the previous page. */
  readonly cursor?: string;
}

/** One page of a collection. */
export interface Page<T> {
  readonly items: T[];
  /** The cursor of the next page, or null on the last one. */
  readonly next: string | null;
}

/** GET `/{c}/{id}`. */
export function getResource<T>(
  ctx: ClientContext,
  collection: string,
  id: string,
  options?: GetOptions,
): Promise<Snapshot<T>> {
  return operation(ctx, options, async (scope) => {
    const path = resourcePath(collection, id);
    const cached = options?.fresh === true ? undefined : ctx.cache.get(path);
    const exchange = await request(ctx, scope, {
      method: 'GET',
      path,
      headers: { ...(cached ? { 'if-none-match': cached.etag } : {}), ...lower(options?.headers) },
    });
    if (exchange.status === 304 && cached !== undefined) {
      return { data: cloneJson(cached.data), etag: cached.etag } as Snapshot<T>;
    }
    if (exchange.status === 404 || exchange.status === 410) ctx.cache.delete(path);
    return remember<T>(ctx, path, expectOk(exchange));
  });
}

/** GET `/{c}`: one page. */
export function listPage<T>(
  ctx: ClientContext,
  collection: string,
  options?: ListOptions<T>,
): Promise<Page<T>> {
  return operation(ctx, options, async (scope) => {
    const query = new URLSearchParams();
    if (options?.limit !== undefined) query.set('limit', String(options.limit));
    if (options?.cursor !== undefined) query.set('cursor', options.cursor);
    for (const [field, value] of Object.entries(options?.filter ?? {})) {
      if (value !== undefined) query.set(field, value === null ? 'null' : String(value as JsonValue));
    }
    const text = query.toString();
    const search = text === '' ? '' : `?${text}`;
    const exchange = expectOk(
      await request(ctx, scope, {
        method: 'GET',
        path: resourcePath(collection) + search,
        headers: lower(options?.headers),
      }),
    );
    const body = exchange.body as { items?: unknown; next?: unknown } | undefined;
    if (!isJsonObject(body) || !Array.isArray(body.items)) throw problemError(exchange.response, body);
    return { items: body.items as T[], next: typeof body.next === 'string' ? body.next : null };
  });
}

/** Every item of a collection, page after page. */
export async function* listEvery<T>(
  ctx: ClientContext,
  collection: string,
  options?: ListOptions<T>,
): AsyncGenerator<T, void, undefined> {
  let cursor = options?.cursor;
  do {
    const page: Page<T> = await listPage<T>(ctx, collection, {
      ...options,
      ...(cursor === undefined ? {} : { cursor }),
    });
    yield* page.items;
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
}

/** Header names in lower case, as the transport expects. */
export function lower(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

export type { JsonObject };
