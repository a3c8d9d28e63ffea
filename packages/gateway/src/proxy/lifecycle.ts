import type { RouteConfig } from '../config/types.js';
import { gatewayProblem, type GatewayProblem } from '../problems/answer.js';

/**
 * The lifecycle headers of a route's answers: `Deprecation` (RFC 9745, a structured-field date:
 * `@` and epoch seconds), `Sunset` (RFC 8594, an HTTP date) and `Link` to the successor
 * (`rel="successor-version"`, RFC 5829). Computed per request: they depend only on configuration.
 */
export function lifecycleHeaders(route: RouteConfig): Record<string, string> {
  const lc = route.lifecycle;
  if (!lc) return {};
  const out: Record<string, string> = {};
  if (lc.deprecated !== undefined) out['deprecation'] = `@${Math.floor(lc.deprecated / 1000)}`;
  if (lc.sunset !== undefined) out['sunset'] = new Date(lc.sunset).toUTCString();
  if (lc.link !== undefined && (lc.deprecated !== undefined || lc.sunset !== undefined)) {
    out['link'] = `<${lc.link}>; rel="successor-version"`;
  }
  return out;
}

/** The route has a deprecation or a sunset date: its calls count in the lifecycle report. */
export function hasLifecycle(route: RouteConfig): boolean {
  return route.lifecycle?.deprecated !== undefined || route.lifecycle?.sunset !== undefined;
}

/** 410 `sunset` once the route's sunset has passed; the upstream is not called. */
export function sunsetProblem(route: RouteConfig, now: number): GatewayProblem | undefined {
  const sunset = route.lifecycle?.sunset;
  if (sunset === undefined || now < sunset) return undefined;
  const link = route.lifecycle?.link ?? null;
  return gatewayProblem(
    'sunset',
    `Route ${route.name} was retired on ${new Date(sunset).toISOString()}${link ? `; use ${link}` : ''}.`,
    { sunset: new Date(sunset).toISOString(), successor: link },
  );
}
