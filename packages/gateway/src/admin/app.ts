import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createProblem, problemDocumentation } from '@truce/protocol';
import type { GatewayConfig } from '../config/types.js';
import { generateKey } from '../auth/keys.js';
import { GatewayProblem, gatewayProblem } from '../problems/answer.js';
import type { GatewayStore, SubscriptionAction, SubscriptionStatus } from '../store/types.js';
import { adminKeyChecker } from './auth.js';
import { adminOpenApi } from './openapi.js';

/** What the admin API serves besides the store (the call log and metrics join here). */
export interface AdminParts {
  readonly config: GatewayConfig;
  readonly store: GatewayStore;
  /** Extra routes registered on the same app (call log, metrics, analytics). */
  readonly extend?: (app: FastifyInstance) => void;
}

const STATUSES: readonly SubscriptionStatus[] = ['pending', 'approved', 'rejected', 'revoked'];

/**
 * The admin API (SPEC 5.4) on its own port: consumers, keys, subscriptions, the audit log and the
 * problem pages. Every route but `GET /_problems/{code}` and the dashboard needs the admin key.
 */
export function createAdminApp(parts: AdminParts): FastifyInstance {
  const { config, store } = parts;
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const allowed = adminKeyChecker(config.admin?.key ?? '');
  const open = (url: string) => url.startsWith('/_problems/') || url === '/' || url.startsWith('/assets/');

  app.addHook('onRequest', async (request) => {
    if (!open(request.url) && !allowed(request.headers.authorization)) {
      throw gatewayProblem(
        'unauthenticated',
        'The admin API needs Authorization: Bearer <admin key>.',
        {},
        {
          'www-authenticate': 'Bearer realm="truce-admin"',
        },
      );
    }
  });
  app.setErrorHandler((error, request, reply) => sendAdminProblem(reply, toAdminProblem(error), request.url));
  app.setNotFoundHandler((request, reply) =>
    sendAdminProblem(
      reply,
      gatewayProblem('not-found', `Nothing here: ${request.method} ${request.url.split('?')[0]}.`),
      request.url,
    ),
  );

  app.get('/_problems/:code', async (request, reply) => {
    const { code } = request.params as { code: string };
    const page = problemDocumentation(code, request.headers.accept);
    if (!page) throw gatewayProblem('not-found', `There is no problem type "${code}".`);
    return reply
      .header('content-type', page.type)
      .header('vary', 'Accept')
      .header('cache-control', 'public, max-age=3600')
      .send(page.body);
  });

  app.get('/openapi.json', async () => adminOpenApi);

  // The configured routes, for the dashboard and for operators: what each one asks of a caller.
  app.get('/routes', async () => ({
    items: config.routes.map((r) => ({
      name: r.name,
      prefix: r.prefix || '/',
      host: r.host ?? null,
      methods: r.methods ?? null,
      // An AI route calls model providers instead of an upstream (docs/ai.md); never their keys.
      upstream: r.ai ? null : r.upstream,
      ai: r.ai
        ? {
            providers: [...r.ai.providers.values()].map((p) => ({ name: p.name, type: p.kind })),
            models: Object.fromEntries(
              [...r.ai.models].map(([alias, targets]) => [
                alias,
                targets.map((t) => `${t.provider}/${t.model}`),
              ]),
            ),
            tokensPerMinute: r.ai.tokensPerMinute ?? null,
            state: r.ai.state?.upstream ?? null,
          }
        : null,
      auth: r.auth,
      subscription: r.subscription,
      rateLimit: r.rateLimit
        ? { limit: r.rateLimit.limit, windowSeconds: r.rateLimit.windowMs / 1000, by: r.rateLimit.by }
        : null,
      requirePreconditions: r.requirePreconditions,
      lifecycle: r.lifecycle
        ? {
            deprecated: r.lifecycle.deprecated === undefined ? null : iso(r.lifecycle.deprecated),
            sunset: r.lifecycle.sunset === undefined ? null : iso(r.lifecycle.sunset),
            link: r.lifecycle.link ?? null,
          }
        : null,
    })),
    next: null,
    // Where the proxy listens, so the dashboard's playground can call it on the page's host.
    proxyPort: config.listen.port,
  }));

  app.post('/consumers', async (request, reply) => {
    const name = stringMember(
      request.body,
      'name',
      /^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/,
      'a name of 1 to 100 letters, digits, ., _, @ or -, starting with a letter or digit',
    );
    const created = await store.createConsumer(name, Date.now());
    if (created === 'taken') {
      throw gatewayProblem('already-exists', `A consumer is already named "${name}".`, {
        existing: `/consumers/${encodeURIComponent(name)}`,
      });
    }
    return reply.code(201).header('location', `/consumers/${created.id}`).send(consumerJson(created));
  });
  app.get('/consumers', async (request) => {
    const { limit, cursor } = paging(request);
    const page = await store.consumers(limit, cursor);
    return { items: page.items.map(consumerJson), next: page.next };
  });
  app.get('/consumers/:id', async (request) => consumerJson(await consumerOf(store, request)));
  app.delete('/consumers/:id', async (request, reply) => {
    const consumer = await consumerOf(store, request);
    await store.deleteConsumer(consumer.id, Date.now());
    return reply.code(204).send();
  });

  app.post('/consumers/:id/keys', async (request, reply) => {
    const consumer = await consumerOf(store, request);
    const { key, hash, prefix } = generateKey();
    const row = await store.addKey(consumer.id, hash, prefix, Date.now());
    if (!row) throw gatewayProblem('not-found', `There is no consumer ${consumer.id}.`);
    // The key appears here and nowhere else: only its hash is stored.
    return reply
      .code(201)
      .header('cache-control', 'no-store')
      .send({ id: row.id, key, prefix, createdAt: iso(row.createdAt) });
  });
  app.get('/consumers/:id/keys', async (request) => {
    const consumer = await consumerOf(store, request);
    const { limit, cursor } = paging(request);
    const page = await store.keys(consumer.id, limit, cursor);
    return {
      items: page.items.map((k) => ({
        id: k.id,
        prefix: k.prefix,
        createdAt: iso(k.createdAt),
        lastUsedAt: k.lastUsedAt === null ? null : iso(k.lastUsedAt),
      })),
      next: page.next,
    };
  });
  app.delete('/consumers/:id/keys/:keyId', async (request, reply) => {
    const consumer = await consumerOf(store, request);
    const { keyId } = request.params as { keyId: string };
    if (!(await store.deleteKey(consumer.id, keyId, Date.now()))) {
      throw gatewayProblem('not-found', `Consumer ${consumer.name} has no key ${keyId}.`);
    }
    return reply.code(204).send();
  });

  app.post('/subscriptions', async (request, reply) => {
    const consumerRef = stringMember(request.body, 'consumer', /^.{1,200}$/, 'the id or name of a consumer');
    const routeName = stringMember(request.body, 'route', /^.{1,200}$/, 'the name of a route');
    const route = config.routes.find((r) => r.name === routeName);
    if (!route) throw invalid('/route', `there is no route "${routeName}"`);
    if (route.auth !== 'key')
      throw invalid('/route', `route "${routeName}" takes no keys (auth: none), so it has no subscriptions`);
    const consumer = await store.consumer(consumerRef);
    if (!consumer) throw invalid('/consumer', `there is no consumer "${consumerRef}"`);
    const status: SubscriptionStatus = route.subscription === 'open' ? 'approved' : 'pending';
    const created = await store.subscribe(consumer.id, route.name, status, Date.now());
    if (created === 'exists') {
      throw gatewayProblem(
        'already-exists',
        `${consumer.name} already has a subscription to route ${route.name}.`,
        { existing: `/subscriptions?consumer=${consumer.id}&route=${route.name}` },
      );
    }
    return reply.code(201).header('location', `/subscriptions/${created.id}`).send(subscriptionJson(created));
  });
  app.get('/subscriptions', async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const { limit, cursor } = paging(request);
    if (q['status'] !== undefined && !STATUSES.includes(q['status'] as SubscriptionStatus)) {
      throw badParameter('status', `must be one of ${STATUSES.join(', ')}`);
    }
    let consumerId: string | undefined;
    if (q['consumer'] !== undefined) {
      const consumer = await store.consumer(q['consumer']);
      if (!consumer) return { items: [], next: null };
      consumerId = consumer.id;
    }
    const page = await store.subscriptions(
      { status: q['status'] as SubscriptionStatus | undefined, consumerId, route: q['route'] },
      limit,
      cursor,
    );
    return { items: page.items.map(subscriptionJson), next: page.next };
  });
  app.get('/subscriptions/:id', async (request) => {
    const { id } = request.params as { id: string };
    const found = await store.subscription(id);
    if (!found) throw gatewayProblem('not-found', `There is no subscription ${id}.`);
    return subscriptionJson(found);
  });
  for (const action of ['approve', 'reject', 'revoke'] as const satisfies readonly SubscriptionAction[]) {
    app.post(`/subscriptions/:id/${action}`, async (request) => {
      const { id } = request.params as { id: string };
      const result = await store.transitionSubscription(id, action, Date.now());
      if (result.ok) return subscriptionJson(result.subscription);
      if (result.reason === 'not-found') throw gatewayProblem('not-found', `There is no subscription ${id}.`);
      const allowed = (
        Object.entries({
          approve: ['pending', 'rejected', 'revoked'],
          reject: ['pending'],
          revoke: ['approved'],
        }) as [string, string[]][]
      )
        .filter(([, from]) => from.includes(result.current))
        .map(([name]) => name);
      throw gatewayProblem(
        'invalid-transition',
        `A subscription that is ${result.current} cannot be ${action === 'approve' ? 'approved' : `${action}d`}.`,
        {
          currentState: result.current,
          transition: action,
          allowedTransitions: allowed,
        },
      );
    });
  }

  app.get('/audit', async (request) => {
    const { limit, cursor } = paging(request);
    const page = await store.audit(limit, cursor);
    return {
      items: page.items.map((a) => ({
        time: iso(a.time),
        action: a.action,
        target: a.target,
        detail: a.detail,
      })),
      next: page.next,
    };
  });

  parts.extend?.(app);
  return app;
}

/** Builds the problem a thrown error stands for, as the admin API answers it. */
function toAdminProblem(error: unknown): GatewayProblem {
  if (error instanceof GatewayProblem) return error;
  const e = error as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return gatewayProblem('payload-too-large', 'Admin requests take bodies of at most 64 KiB.', {
      limit: 64 * 1024,
    });
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return gatewayProblem('unsupported-media-type', 'The admin API takes application/json bodies.');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return gatewayProblem('malformed-request', e.message ?? 'The request is malformed.', {
      errors: [{ pointer: '', message: e.message ?? 'malformed' }],
    });
  }
  return gatewayProblem('internal-error', 'The admin API failed to handle this request.');
}

function sendAdminProblem(reply: FastifyReply, problem: GatewayProblem, url: string): FastifyReply {
  const body = createProblem(problem.code, {
    detail: problem.detail,
    instance: url.split('?')[0]!,
    ...(problem.members as Record<string, never>),
  });
  return reply
    .code(body.status)
    .headers(problem.headers)
    .type('application/problem+json; charset=utf-8')
    .send(JSON.stringify(body));
}

async function consumerOf(store: GatewayStore, request: FastifyRequest) {
  const { id } = request.params as { id: string };
  const consumer = await store.consumer(id);
  if (!consumer) throw gatewayProblem('not-found', `There is no consumer "${id}".`);
  return consumer;
}

/** `limit` (default 50, at most 1000) and `cursor` of a list (SPEC 5.4). */
export function paging(request: FastifyRequest): { limit: number; cursor: string | undefined } {
  const q = request.query as Record<string, string | undefined>;
  const text = q['limit'];
  const limit = text === undefined ? 50 : Number(text);
  if (!/^[0-9]{1,4}$/.test(text ?? '50') || limit < 1 || limit > 1000)
    throw badParameter('limit', 'must be an integer from 1 to 1000');
  const cursor = q['cursor'];
  if (cursor !== undefined && !/^[A-Za-z0-9_-]{1,400}$/.test(cursor))
    throw badParameter('cursor', 'is not a cursor this API gave out');
  return { limit, cursor };
}

/** 400 for a query parameter. */
export function badParameter(parameter: string, message: string): GatewayProblem {
  return gatewayProblem('malformed-request', `The ${parameter} parameter ${message}.`, {
    errors: [{ parameter, message }],
  });
}

function invalid(pointer: string, message: string): GatewayProblem {
  return gatewayProblem('validation-failed', `The request body is not valid: ${pointer} ${message}.`, {
    errors: [{ pointer, message }],
  });
}

function stringMember(body: unknown, name: string, pattern: RegExp, what: string): string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw gatewayProblem('malformed-request', 'The body must be a JSON object.', {
      errors: [{ pointer: '', message: 'must be a JSON object' }],
    });
  }
  const value = (body as Record<string, unknown>)[name];
  if (typeof value !== 'string' || !pattern.test(value)) throw invalid(`/${name}`, `must be ${what}`);
  return value;
}

/** ISO 8601 from epoch ms. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function consumerJson(c: { id: string; name: string; createdAt: number }) {
  return { id: c.id, name: c.name, createdAt: iso(c.createdAt) };
}

function subscriptionJson(s: {
  id: string;
  consumerId: string;
  consumer: string;
  route: string;
  status: SubscriptionStatus;
  createdAt: number;
  updatedAt: number;
}) {
  return {
    id: s.id,
    consumer: s.consumer,
    consumerId: s.consumerId,
    route: s.route,
    status: s.status,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}
