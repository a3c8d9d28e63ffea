import type { FastifyInstance } from 'fastify';
import type { CallLog, CallQuery } from '../calls/log.js';
import { gatewayProblem } from '../problems/answer.js';
import { badParameter, paging } from './app.js';

/** `GET /calls` and `GET /calls/{id}` (SPEC 5.4). */
export function registerCallRoutes(app: FastifyInstance, log: CallLog): void {
  app.get('/calls', async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const { limit, cursor } = paging(request);
    const query: CallQuery = {
      route: q['route'],
      status: status(q['status']),
      code: q['code'],
      consumer: q['consumer'],
      resource: q['resource'],
      model: q['model'],
      since: time(q['since'], 'since'),
      until: time(q['until'], 'until'),
      order: order(q['order']),
      limit,
      cursor,
    };
    return log.query(query);
  });
  app.get('/calls/:id', async (request) => {
    const { id } = request.params as { id: string };
    const call = await log.get(id);
    if (!call)
      throw gatewayProblem(
        'not-found',
        `There is no call ${id} in the log (it may have passed its retention).`,
      );
    return call;
  });
}

function status(text: string | undefined): CallQuery['status'] {
  if (text === undefined) return undefined;
  if (/^[1-5][0-9][0-9]$/.test(text)) return { exact: Number(text) };
  if (/^[1-5]xx$/i.test(text)) return { class: Number(text[0]) };
  throw badParameter('status', 'must be a status (409) or a class (4xx)');
}

function time(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms))
    throw badParameter(name, 'must be an ISO 8601 time');
  return ms;
}

function order(text: string | undefined): 'asc' | 'desc' {
  if (text === undefined || text === 'desc') return 'desc';
  if (text === 'asc') return 'asc';
  throw badParameter('order', 'must be asc or desc');
}
