import type { RouteConfig } from '../config/types.js';

/** What routing a request found. */
export type RouteMatch =
  | { readonly kind: 'route'; readonly route: RouteConfig; readonly upstreamPath: string }
  | { readonly kind: 'method-not-allowed'; readonly route: RouteConfig; readonly allow: string }
  | { readonly kind: 'no-route' };

/**
 * Routes by longest prefix, then host (SPEC 5.1, 5.6): a prefix matches at segment boundaries
 * (`/shop` matches `/shop` and `/shop/x`, never `/shopping`); hosts compare case-insensitively
 * without the port; at equal prefix length a route with a host wins over one without. A path
 * that matches a route whose `methods` leave the method out is 405, not a fall-through to a
 * shorter prefix: the operator named that path, and answering it from another route would surprise.
 */
export class Router {
  // Longest prefix first; among equals, routes with a host first.
  private readonly routes: readonly RouteConfig[];

  constructor(routes: readonly RouteConfig[]) {
    this.routes = [...routes].sort(
      (a, b) =>
        b.prefix.length - a.prefix.length || Number(b.host !== undefined) - Number(a.host !== undefined),
    );
  }

  /** `path` must already be normalised ({@link normalisePath}); `host` is the Host header as sent. */
  match(method: string, path: string, host: string | undefined): RouteMatch {
    const bareHost = host === undefined ? undefined : hostWithoutPort(host);
    for (const route of this.routes) {
      if (route.host !== undefined && route.host !== bareHost) continue;
      if (!underPrefix(path, route.prefix)) continue;
      if (route.methods && !route.methods.includes(method)) {
        const allow = new Set(route.methods);
        if (allow.has('GET')) allow.add('HEAD');
        return { kind: 'method-not-allowed', route, allow: [...allow].join(', ') };
      }
      const rest = path.slice(route.prefix.length);
      return { kind: 'route', route, upstreamPath: route.stripPrefix ? rest || '/' : path };
    }
    return { kind: 'no-route' };
  }
}

function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '') return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}

/** A Host header without its port, lower-cased (IPv6 literals keep their brackets). */
export function hostWithoutPort(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.indexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/**
 * The path a route is chosen by, normalised the way an upstream router will read it, so that no
 * spelling of a path reaches an upstream under another route's policy: dot segments are resolved
 * (RFC 3986 5.2.4) and percent-encoded unreserved characters decoded (RFC 3986 6.2.2.2), in that
 * order, repeatedly; an encoded `/`, `\` or `.` that would still change the segments is refused.
 * Returns undefined for a path that cannot be read safely (the caller answers 400).
 */
export function normalisePath(raw: string): string | undefined {
  if (!raw.startsWith('/')) return undefined;
  let path = raw;
  if (path.includes('%')) {
    let decoded: string;
    try {
      // Decode only unreserved characters: reserved ones (%2F, %3F...) keep their meaning as data.
      decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (match, hex: string) => {
        const code = parseInt(hex, 16);
        const ch = String.fromCharCode(code);
        return /[A-Za-z0-9\-._~]/.test(ch) ? ch : match.toUpperCase();
      });
    } catch {
      return undefined;
    }
    if (/%(2[fF]|5[cC]|00)/.test(decoded)) return undefined;
    path = decoded;
  }
  if (path.includes('\\') || path.includes('\0')) return undefined;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '.') continue;
    if (segment === '..') {
      out.pop();
      continue;
    }
    out.push(segment);
  }
  // A trailing dot segment leaves a directory: `/a/b/..` is `/a/`.
  const last = segments[segments.length - 1];
  if ((last === '.' || last === '..') && segments.length > 1) out.push('');
  return `/${out.join('/')}`;
}
