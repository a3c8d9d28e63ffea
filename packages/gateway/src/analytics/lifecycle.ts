import type { CallLog } from '../calls/log.js';
import type { RouteConfig } from '../config/types.js';
import { hasLifecycle } from '../proxy/lifecycle.js';
import type { Window } from './reports.js';

/** One consumer's calls to a lifecycle route in the window. */
export interface LifecycleConsumer {
  /** Null for calls without a consumer (`auth: none` routes, or a 410 to an unknown key). */
  consumer: string | null;
  calls: number;
  /** Of them, answered 410 `sunset`: this consumer still calls the route after it was retired. */
  gone: number;
  lastAt: string;
}

/** One item of `GET /analytics/lifecycle`: a route with a deprecation or sunset date. */
export interface LifecycleItem {
  route: string;
  deprecated: string | null;
  sunset: string | null;
  link: string | null;
  calls: number;
  gone: number;
  /** Most calls first, then by name; an empty list when nobody called the route in the window. */
  consumers: LifecycleConsumer[];
}

const MINUTE = 60_000;
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * `GET /analytics/lifecycle` (issue 12 item 6): every configured route with a deprecation or sunset
 * date (or the one named), with each consumer's calls to it in the window, the 410s among them and
 * the last call, from the lifecycle roll-ups (calls/lifecycle-rollups.ts): whole minutes, read as
 * days, hours and minutes, so a window of any length reads a bounded number of rows per route and
 * consumer. Routes are in configuration order.
 */
export async function lifecycle(
  log: CallLog,
  routes: readonly RouteConfig[],
  w: Window,
): Promise<{ items: LifecycleItem[] }> {
  const since = Math.floor(w.since / MINUTE) * MINUTE;
  const usage = await log.lifecycleUsage(since, w.until);
  const items: LifecycleItem[] = [];
  for (const route of routes) {
    if (!hasLifecycle(route) || (w.route !== undefined && route.name !== w.route)) continue;
    const consumers = usage
      .filter((u) => u.route === route.name)
      .map((u) => ({
        consumer: u.consumer,
        calls: u.calls,
        gone: u.gone,
        lastAt: new Date(u.lastAt).toISOString(),
      }))
      .sort((a, b) => b.calls - a.calls || order(a.consumer, b.consumer));
    items.push({
      route: route.name,
      deprecated: iso(route.lifecycle?.deprecated),
      sunset: iso(route.lifecycle?.sunset),
      link: route.lifecycle?.link ?? null,
      calls: consumers.reduce((n, c) => n + c.calls, 0),
      gone: consumers.reduce((n, c) => n + c.gone, 0),
      consumers,
    });
  }
  return { items };
}

/** Names in byte order, calls without a consumer last. */
function order(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
