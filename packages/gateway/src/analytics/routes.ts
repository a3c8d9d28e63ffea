import type { FastifyInstance } from 'fastify';
import type { CallLog } from '../calls/log.js';
import { badParameter } from '../admin/app.js';
import type { RouteConfig } from '../config/types.js';
import { parseDuration } from '../config/units.js';
import { lifecycle } from './lifecycle.js';
import { hotspots, retries, unconditional } from './key-reports.js';
import { series, summary, usage, type Window } from './reports.js';
import type { UsageKey } from '../calls/log.js';

/** The default window of every report: the last hour. */
const DEFAULT_WINDOW_MS = 3_600_000;
/** `series` answers at most this many buckets. */
const MAX_BUCKETS = 10_000;
const HOTSPOT_BY = ['resource', 'route', 'consumer'] as const;
const USAGE_KEYS: readonly UsageKey[] = ['consumer', 'route', 'model'];

/**
 * `GET /analytics/{summary,series,hotspots,unconditional,retries}` (SPEC 5.4, 5.6),
 * `GET /analytics/lifecycle` (issue 12 item 6) over the configured `routes`, and
 * `GET /analytics/usage` (AI calls' tokens and cost).
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

  app.get('/analytics/usage', async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const by = usageBy(q['by']);
    const w = window(q, now);
    const consumer = q['consumer'];
    if (consumer !== undefined && consumer.length === 0) throw badParameter('consumer', 'must not be empty');
    if (w.route !== undefined && w.route.length === 0) throw badParameter('route', 'must not be empty');
    return usage(log, by, { ...w, consumer });
  });

  app.get('/analytics/lifecycle', async (request) => lifecycle(log, routes, window(request.query, now)));
}

/** `by` of the usage report: consumer, route, model or a comma-separated set of them; default consumer,model. */
function usageBy(text: string | undefined): UsageKey[] {
  if (text === undefined) return ['consumer', 'model'];
  const keys = text.split(',');
  if (keys.some((k) => !(USAGE_KEYS as readonly string[]).includes(k)) || new Set(keys).size !== keys.length)
    throw badParameter(
      'by',
      'must be consumer, model, route or a comma-separated set of them (consumer,model)',
    );
  return keys as UsageKey[];
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
