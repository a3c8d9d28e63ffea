import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import type { GatewayConfig, RouteConfig } from '../config/types.js';
import { gatewayProblem } from '../problems/answer.js';

/** What a prompt list or history read from a state server may hold at most. */
const LIMIT = 4 * 1024 * 1024;

/**
 * The prompts of AI routes with `ai.state` (docs/ai.md), read from their Truce state servers for
 * the dashboard: `GET /ai/prompts` lists every prompt with its state and version, and
 * `GET /ai/prompts/{route}/{name}/versions` is a prompt's history. Read-only: prompts are edited
 * on the state server, where Truce's preconditions keep two editors from losing each other's work.
 */
export function registerPromptRoutes(app: FastifyInstance, config: GatewayConfig): void {
  const routes = config.routes.filter((r) => r.ai?.state);
  const read = async (route: RouteConfig, path: string): Promise<{ status: number; body: unknown }> => {
    const state = route.ai!.state!;
    const target = config.upstreams.get(state.upstream)?.targets[0];
    if (!target) return { status: 502, body: null };
    const res = await request(`${target.origin}${target.basePath}/${state.prompts}${path}`, {
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    if (text.length > LIMIT) return { status: 502, body: null };
    return { status: res.statusCode, body: text === '' ? null : (JSON.parse(text) as unknown) };
  };

  app.get('/ai/prompts', async () => {
    const items: unknown[] = [];
    for (const route of routes) {
      let answer: { status: number; body: unknown };
      try {
        answer = await read(route, '?limit=1000');
      } catch (error) {
        throw gatewayProblem(
          'bad-gateway',
          `Reading the prompts of route ${route.name} failed: ${(error as Error).message}`,
        );
      }
      const list = (answer.body as { items?: Record<string, unknown>[] } | null)?.items ?? [];
      for (const p of list) {
        items.push({
          route: route.name,
          name: p['id'],
          status: p['status'] ?? null,
          model: p['model'] ?? null,
          version: p['_version'] ?? null,
          updatedAt: p['_updatedAt'] ?? null,
          updatedBy: p['_updatedBy'] ?? null,
        });
      }
    }
    return { items, next: null };
  });

  app.get('/ai/prompts/:route/:name/versions', async (request, reply) => {
    const { route: name, name: prompt } = request.params as { route: string; name: string };
    const route = routes.find((r) => r.name === name);
    if (!route || !/^[A-Za-z0-9._~-]{1,200}$/.test(prompt)) {
      throw gatewayProblem('not-found', `No prompt ${prompt} on route ${name}.`);
    }
    let answer: { status: number; body: unknown };
    try {
      answer = await read(route, `/${encodeURIComponent(prompt)}/_versions?limit=100`);
    } catch (error) {
      throw gatewayProblem(
        'bad-gateway',
        `Reading the history of prompt ${prompt} failed: ${(error as Error).message}`,
      );
    }
    return reply.code(answer.status).send(answer.body);
  });
}
