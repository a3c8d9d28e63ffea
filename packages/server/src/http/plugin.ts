import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TruceConfig } from '../config/types.js';
import { buildOpenApi } from '../openapi/build.js';
import {
  checkedId,
  collectionOf,
  type OperationInput,
  type OperationResult,
  type ResourceContext,
} from '../resources/context.js';
import { listItems, readItem } from '../resources/read.js';
import { compileValidators } from '../resources/validation.js';
import { listVersions, readVersion } from '../resources/versions.js';
import { createItem, writeItem } from '../resources/write.js';
import type { Store } from '../store/types.js';
import { ACCEPT_PATCH, registerBodyParsers } from './body.js';
import { toProblem } from './errors.js';
import { ProblemError } from './problem-error.js';
import { sendProblem, sendResult } from './reply.js';
import { problemDocumentation } from './problem-docs.js';

/** Options of {@link trucePlugin}. */
export interface TrucePluginOptions {
  readonly config: TruceConfig;
  readonly store: Store;
}

type Params = Record<string, string>;
type Handler = (ctx: ResourceContext, params: Params, input: OperationInput) => Promise<OperationResult>;

/**
 * The resource server as a Fastify plugin. Register it at the root or under a prefix next to your
 * own routes: `app.register(trucePlugin, { prefix: '/api', config, store })`. Its body parsers,
 * error handler and not-found handler stay inside its own scope.
 */
export async function trucePlugin(app: FastifyInstance, options: TrucePluginOptions): Promise<void> {
  const { config, store } = options;
  const ctx: ResourceContext = {
    config,
    store,
    prefix: app.prefix,
    validators: compileValidators(config.collections.values()),
  };
  const typeBase = config.problemTypeBase;
  registerBodyParsers(app, config.bodyLimit);

  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request.method, config.bodyLimit);
    if (problem.code === 'internal-error') request.log.error({ err: error }, 'request failed');
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

  app.get('/_health', async (_request, reply) => {
    try {
      await store.ping();
    } catch (error) {
      throw new ProblemError(
        'busy',
        `The store does not answer: ${(error as Error).message}`,
        {},
        { 'retry-after': '5' },
      );
    }
    return reply.header('cache-control', 'no-store').send({ status: 'ok', store: store.capabilities.name });
  });

  let openapi: string | undefined;
  app.get('/_openapi.json', async (_request, reply) => {
    openapi ??= JSON.stringify(buildOpenApi(config, app.prefix));
    return reply.type('application/json; charset=utf-8').send(openapi);
  });

  app.get('/_problems/:code', async (request, reply) => {
    const { code } = request.params as Params;
    const page = problemDocumentation(code ?? '', request.headers.accept);
    if (!page) throw new ProblemError('not-found', `There is no problem type "${code}".`);
    return reply.type(page.type).header('cache-control', 'public, max-age=3600').send(page.body);
  });

  route(app, ctx, '/:collection', {
    GET: (c, p, i) => listItems(c, collectionOf(c, p['collection']!), i),
    POST: (c, p, i) => createItem(c, collectionOf(c, p['collection']!), i),
  });
  route(app, ctx, '/:collection/:id', {
    GET: (c, p, i) => readItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
    PUT: (c, p, i) => writeItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), 'replace', i),
    PATCH: (c, p, i) => writeItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), 'patch', i),
    DELETE: (c, p, i) => writeItem(c, collectionOf(c, p['collection']!), checkedId(p['id']!), 'delete', i),
  });
  route(app, ctx, '/:collection/:id/_versions', {
    GET: (c, p, i) => listVersions(c, collectionOf(c, p['collection']!), checkedId(p['id']!), i),
  });
  route(app, ctx, '/:collection/:id/_versions/:version', {
    GET: (c, p) => readVersion(c, collectionOf(c, p['collection']!), checkedId(p['id']!), p['version']!),
  });
}

/**
 * One URL pattern with its handlers by method. HEAD runs GET (Node.js drops the body), OPTIONS
 * lists what is allowed, and any other method is 405 with Allow (RFC 9110 15.5.6). An unknown
 * collection is 404 whatever the method.
 */
function route(
  app: FastifyInstance,
  ctx: ResourceContext,
  url: string,
  handlers: Partial<Record<string, Handler>>,
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
      const params = request.params as Params;
      collectionOf(ctx, params['collection']!);
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
      const input: OperationInput = {
        method,
        headers: request.headers,
        body: request.body,
        query: request.query as OperationInput['query'],
        instance: pathOf(request),
      };
      return sendResult(reply, await handler(ctx, params, input));
    },
  });
}

function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
}
