import type { FastifyInstance } from 'fastify';
import type { CallLog } from '../calls/log.js';
import { badParameter } from '../admin/app.js';
import type { RouteConfig } from '../config/types.js';
import { parseDuration } from '../config/units.js';
import { lifecycle } from './lifecycle.js';
import { hotspots, retries, unconditional } from './key-reports.js';
import { series, summary, type Window } from './reports.js';

/** The default window of every report: the last hour. */
const DEFAULT_WINDOW_MS = 3_600_000;
/** `series` answers at most this many buckets. */
const MAX_BUCKETS = 10_000;
const HOTSPOT_BY = ['resource', 'route', 'consumer'] as const;

/**
 * `GET /analytics/{summary,series,hotspots,unconditional,retries}` (SPEC 5.4, 5.6) and
 * `GET /analytics/lifecycle` (issue 12 item 6) over the configured `routes`.
 */
export function registerAnalyticsRoutes(
  app: FastifyInstance,
  log: CallLog,
  routes: readonly RouteConfig[],
  now: () => number = Date.now,
): void {
  app.get('/analytics/summary', async (request) => summary(log, window(request.query, now)));

  app.get('/analytics/series', async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const w = window(q, now);
    const step = parseDuration(q['step'] ?? '1m');
    if (step === undefined || step < 1000 || !Number.isInteger(step / 1000))
      throw badParameter('step', 'must be a duration of whole seconds, at least 1s (1m, 5m, 1h)');
    if ((w.until - w.since) / step > MAX_BUCKETS)
      throw badParameter('step', `gives more than ${MAX_BUCKETS} points over this window`);
    return series(log, w, step);
  });

  app.get('/analytics/hotspots', async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const by = q['by'] ?? 'resource';
    if (!(HOTSPOT_BY as readonly string[]).includes(by))
      throw badParameter('by', 'must be resource, route or consumer');
    const w = window(q, now);
    const found = await hotspots(log, by as (typeof HOTSPOT_BY)[number], w, limit(q['limit']), now());
    return { ...found, items: found.items.map((r) => ({ ...r, lastAt: new Date(r.lastAt).toISOString() })) };
  });

  app.get('/analytics/unconditional', async (request) =>
    unconditional(log, window(request.query, now), now()),
  );

  app.get('/analytics/retries', async (request) => retries(log, window(request.query, now), now()));

  app.get('/analytics/lifecycle', async (request) => lifecycle(log, routes, window(request.query, now)));
}

/** `since` and `until` (ISO 8601), by default the last hour; `route` when given. */
function window(query: unknown, now: () => number): Window {
  const q = query as Record<string, string | undefined>;
  const until = instant(q['until'], 'until') ?? now();
  const since = instant(q['since'], 'since') ?? until - DEFAULT_WINDOW_MS;
  if (since >= until) throw badParameter('since', 'must be before until');
  return { route: q['route'], since, until };
}

function instant(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms))
    throw badParameter(name, 'must be an ISO 8601 time');
  return ms;
}

function limit(text: string | undefined): number {
  if (text === undefined) return 50;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw badParameter('limit', 'must be an integer from 1 to 1000');
  return n;
}
