import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { resultHeaders, runBatch, type Dispatch } from '../batch/batch.js';
import type { CollectionConfig, TruceConfig } from '../config/types.js';
import {
  DEFAULT_FEED_TIMING,
  pruneFeed,
  readChanges,
  streamChanges,
  wantsEventStream,
  type FeedTiming,
} from '../feed/changes.js';
import { ChangeNotifier, NotifyingStore } from '../feed/notifier.js';
import { ensureIndexes } from '../rules/indexes.js';
import { purgeExpiredKeys, withIdempotencyKey } from '../resources/idempotency.js';
import { buildOpenApi } from '../openapi/build.js';
import {
  checkedId,
  collectionOf,
  header,
  need,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from '../resources/context.js';
import { runIncrement } from '../resources/increment.js';
import { releaseLease, takeLease } from '../resources/lock.js';
import { listItems, readItem } from '../resources/read.js';
import { collectionSchema } from '../resources/schema.js';
import { runTransition } from '../resources/transition.js';
import { compileCollections } from '../rules/compiled.js';
import { listVersions, readVersion } from '../resources/versions.js';
import { createItem, writeItem } from '../resources/write.js';
import { problemDocumentation } from '@truce/protocol';
import { StoreBusyError, type Store } from '../store/types.js';
import { registerBodyParsers } from './body.js';
import { ACCEPT_PATCH } from '../shared/media.js';
import { registerCors } from './cors.js';
import { toProblem } from './errors.js';
import { parseRequest } from './request.js';
import { ProblemError } from '../shared/problem-error.js';
import { sendProblem, sendResult } from './reply.js';

/** Options of {@link trucePlugin}. */
export interface TrucePluginOptions {
  readonly config: TruceConfig;
  readonly store: Store;
  /** Change-feed pacing; tests shorten it. */
  readonly feed?: Partial<FeedTiming> | undefined;
  /** The clock (epoch ms) for leases and idempotency keys; tests move a fake one. Default Date.now. */
  readonly clock?: (() => number) | undefined;
}

type Params = Record<string, string>;
/** The raw exchange, for handlers that answer by streaming. */
type Exchange = { readonly request: FastifyRequest; readonly reply: FastifyReply };
/** A handler answers with a result, or with 'streamed' when it wrote the response itself. */
type Handler = (
  ctx: ResourceContext,
  params: Params,
  input: OperationInput,
  exchange: Exchange,
) => Promise<OperationResult | 'streamed'>;

/**
 * The resource server as a Fastify plugin. Register it at the root or under a prefix next to your
 * own routes: `app.register(trucePlugin, { prefix: '/api', config, store })`. Its body parsers,
 * error handler and not-found handler stay inside its own scope.
 */
export async function trucePlugin(app: FastifyInstance, options: TrucePluginOptions): Promise<void> {
  const { config } = options;
  // Constraints added to a collection that already holds data must cover the documents written
  // before them: derive keys and references again where the configuration changed them.
  await ensureIndexes(config, options.store);
  const notifier = new ChangeNotifier();
  const store = new NotifyingStore(options.store, notifier);
  // Commits made by other processes on a shared store wake change-feed streams at once where the
  // store can tell (PostgreSQL LISTEN/NOTIFY); streams poll as well, so none is ever missed.
  const unwatch = options.store.watchCommits?.(() => notifier.notify());
  if (unwatch) app.addHook('onClose', async () => unwatch());
  // Problem types dereference to this server's own pages, under the plugin's prefix.
  const typeBase = config.problemTypeBase ?? `${app.prefix}/_problems/`;
  const ctx: ResourceContext = {
    config,
    store,
    staging: new Map(),
    now: options.clock ?? Date.now,
    typeBase,
    prefix: app.prefix,
    compiled: compileCollections(config.collections.values()),
    notifier,
    streams: new Set(),
    feed: { ...DEFAULT_FEED_TIMING, ...options.feed },
  };
  // Expired idempotency keys go in small slices, yielding between them, so requests never wait.
  // So do change-feed entries beyond the configured retention (changeFeed.keep).
  const purge = setInterval(() => void purgeExpiredKeys(ctx).then(() => pruneFeed(ctx)), 60_000).unref();
  app.addHook('onClose', async () => clearInterval(purge));
  // Streams would hold the server open: end them before it closes.
  app.addHook('preClose', async () => {
    for (const stream of ctx.streams) stream.abort();
  });
  registerBodyParsers(app, config.bodyLimit);
  registerCors(app, config);

  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request.method, config.bodyLimit);
    if (problem.code === 'internal-error') request.log.error({ err: error }, 'request failed');
    // The specifics of a store failure are for operators only (the problem body does not carry them).
    else if (problem.code === 'busy' || problem.code === 'outcome-unknown')
      request.log.warn({ err: error }, problem.code);
    return sendProblem(reply, problem, pathOf(request), typeBase);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      new ProblemError('not-found', `Nothing here: ${request.method} ${pathOf(request)}.`),
      pathOf(request),
      typeBase,
    ),
  );

  let openapi: string | undefined;
  service(app, ctx, '/_health', async () => {
    try {
      await store.ping();
    } catch (error) {
      // Mapped to `busy` with the details in the log only (errors.ts).
      throw new StoreBusyError('the store does not answer', 5, { cause: error });
    }
    return {
      status: 200,
      headers: { 'cache-control': 'no-store' },
      body: { status: 'ok', store: store.capabilities.name },
    };
  });
  service(app, ctx, '/_openapi.json', async () => {
    openapi ??= JSON.stringify(buildOpenApi(config, app.prefix));
    return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: openapi };
  });
  service(app, ctx, '/_problems/:code', async (_c, params, input) => {
    const page = problemDocumentation(params['code'] ?? '', header(input.headers, 'accept'));
    if (!page) throw new ProblemError('not-found', `There is no problem type "${params['code']}".`);
    return {
      status: 200,
      // The page is HTML or JSON by Accept: caches must key on it (RFC 9110 12.5.5).
      headers: { 'content-type': page.type, 'cache-control': 'public, max-age=3600', vary: 'Accept' },
      body: page.body,
    };
  });

  route(app, ctx, '/:collection', {
    GET: (c, p, i) => listItems(c, collectionOf(c, p['collection']!), i),
    POST: (c, p, i) => createItem(c, collectionOf(c, p['collection']!), i),
  });
  route(app, ctx, '/:collection/:id', {
    GET: (c, p, i) => readItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
    PUT: (c, p, i) => writeItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
    PATCH: (c, p, i) => writeItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
    DELETE: (c, p, i) => writeItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
  });
  const changes =
    (collection: (c: ResourceContext, p: Params) => CollectionConfig | undefined): Handler =>
    async (c, p, i, { request, reply }) => {
      if (!wantsEventStream(i)) return readChanges(c, collection(c, p), i);
      await streamChanges(c, collection(c, p), i, request, reply);
      return 'streamed';
    };
  service(
    app,
    ctx,
    '/_changes',
    changes(() => undefined),
  );
  route(app, ctx, '/:collection/_changes', { GET: changes((c, p) => collectionOf(c, p['collection']!)) });
  // The operations of an atomic batch run through the ordinary routes, each request carrying the id
  // of its batch's staging store (random and short-lived, so no outside request can name one).
  const dispatch: Dispatch = async (op, store) => {
    const id = store ? randomUUID() : undefined;
    if (id && store) ctx.staging.set(id, store);
    try {
      const res = await app.inject({
        method: op.method as 'GET',
        url: op.path,
        headers: id ? { ...op.headers, [STAGING_HEADER]: id } : op.headers,
        ...(op.body === undefined ? {} : { payload: JSON.stringify(op.body) }),
      });
      return {
        status: res.statusCode,
        headers: resultHeaders(res.headers),
        ...(res.body ? { body: JSON.parse(res.body) as unknown } : {}),
      };
    } finally {
      if (id) ctx.staging.delete(id);
    }
  };
  route(app, ctx, '/_batch', { POST: async (c, _p, i) => runBatch(c, i, dispatch) }, 'service');
  route(app, ctx, '/:collection/_schema', {
    GET: async (c, p) => ({
      status: 200,
      headers: { 'content-type': 'application/schema+json' },
      body: collectionSchema(collectionOf(c, p['collection']!)),
    }),
  });
  route(app, ctx, '/:collection/:id/_transitions/:name', {
    POST: (c, p, i) =>
      runTransition(c, collectionOf(c, p['collection']!), checkedId(p['id']!), p['name']!, i),
  });
  route(app, ctx, '/:collection/:id/_increment', {
    POST: (c, p, i) => runIncrement(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
  });
  route(app, ctx, '/:collection/:id/_lock', {
    POST: (c, p, i) => takeLease(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
    DELETE: (c, p, i) => releaseLease(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
  });
  route(app, ctx, '/:collection/:id/_versions', {
    GET: (c, p, i) => listVersions(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
  });
  route(app, ctx, '/:collection/:id/_versions/:version', {
    GET: (c, p, i) =>
      readVersion(c, collectionOf(c, p['collection']!), checkedId(p['id']!), p['version']!, i),
  });
}

/**
 * One URL pattern with its handlers by method. HEAD runs GET (Node.js drops the body), OPTIONS
 * lists what is allowed, and any other method is 405 with Allow (RFC 9110 15.5.6). An unknown
 * collection is 404 whatever the method.
 */
function route(
  app: FastifyInstance,
  base: ResourceContext,
  url: string,
  handlers: Partial<Record<string, Handler>>,
  scope: 'collection' | 'service' = 'collection',
): void {
  const allowed = Object.keys(handlers);
  if (allowed.includes('GET')) allowed.push('HEAD');
  allowed.push('OPTIONS');
  const allow = allowed.join(', ');
  const acceptsPatch = allowed.includes('PATCH');

  app.route({
    // Every method Fastify routes, so the unsupported ones get 405 with Allow instead of 404.
    method: app.supportedMethods,
    url,
    exposeHeadRoute: false,
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const ctx = contextFor(base, request);
      const params = request.params as Params;
      if (scope === 'collection') collectionOf(ctx, params['collection']!);
      const method = request.method;
      if (method === 'OPTIONS') {
        return reply
          .code(204)
          .header('allow', allow)
          .headers(acceptsPatch ? { 'accept-patch': ACCEPT_PATCH } : {})
          .send();
      }
      const handler = handlers[method === 'HEAD' ? 'GET' : method];
      if (!handler) {
        throw new ProblemError(
          'method-not-allowed',
          `${method} is not allowed here; use ${allow}.`,
          {},
          { allow },
        );
      }
      // Node.js joins repeated header lines with commas; the actor must be one value, so keep the lines apart.
      // (inject()ed requests, used by batches, have no headersDistinct.)
      const actorLines = request.raw.headersDistinct?.[ctx.config.actorHeader];
      const input = parseRequest(ctx.config, {
        method,
        headers:
          actorLines && actorLines.length > 1
            ? { ...request.headers, [ctx.config.actorHeader]: actorLines }
            : request.headers,
        body: request.body,
        query: request.query as OperationInput['query'],
        path: pathOf(request),
        params,
        pattern: url,
      });
      const idempotencyKey = need(input.idempotencyKey);
      const result =
        idempotencyKey === undefined
          ? await handler(ctx, params, input, { request, reply })
          : await withIdempotencyKey(ctx, input, idempotencyKey, async (c) => {
              const answer = await handler(c, params, input, { request, reply });
              if (answer === 'streamed') throw new Error('a streamed answer cannot be replayed');
              return answer;
            });
      return result === 'streamed' ? reply : sendResult(reply, result);
    },
  });
}

/** Header that ties a batch operation to its batch's staging store. */
const STAGING_HEADER = 'x-truce-batch-staging';

/** The context of one request: inside an atomic batch, its store is the batch's staging view. */
function contextFor(base: ResourceContext, request: FastifyRequest): ResourceContext {
  const id = request.headers[STAGING_HEADER];
  const store = typeof id === 'string' ? base.staging.get(id) : undefined;
  return store ? { ...base, store } : base;
}

/** A read-only service route (`/_health` and friends): GET and HEAD, OPTIONS, 405 for the rest. */
function service(app: FastifyInstance, ctx: ResourceContext, url: string, get: Handler): void {
  route(app, ctx, url, { GET: get }, 'service');
}

function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
}
