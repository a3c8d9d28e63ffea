/**
 * Request paths as the router reads them. A batch operation's path is checked here and then
 * dispatched in the canonical form this module gives it, so the checks and the router see one
 * and the same path: no dot segment, percent-encoding or stray character can make the router
 * reach a route the checks did not see.
 */

/** A path taken apart: its decoded segments, and the canonical path (with the query) to dispatch. */
export interface ParsedPath {
  /** Decoded segments after the leading `/`, dot segments resolved. */
  readonly segments: readonly string[];
  /** `/` + each segment percent-encoded again, plus `?query` when there was one. */
  readonly canonical: string;
}

/**
 * Characters a path may carry unencoded (RFC 3986 3.3 `pchar` and `/`, plus `%` for escapes).
 * Anything else (space, `\`, `#`, control characters) a URL parser would strip, rewrite or cut
 * at, so the router would read another path than the one checked.
 */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
/** A query may also carry `?` and `/` (RFC 3986 3.4). */
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

/**
 * Parses an absolute path (`/a/b?q`) strictly: every segment percent-decoded, dot segments
 * resolved as RFC 3986 5.2.4 does after decoding `%2E` (6.2.2.2, which is also what the WHATWG URL
 * parser behind Fastify's `inject` does), and refused when a segment decodes to something
 * containing `/` (the router would decode `%2F` inside a parameter) or the text holds characters a
 * URL parser would change. Returns the reason as text when the path is refused.
 */
export function parsePath(raw: string): ParsedPath | string {
  if (!raw.startsWith('/')) return 'must start with "/"';
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  const query = q === -1 ? undefined : raw.slice(q + 1);
  if (!PATH_CHARS.test(path) || (query !== undefined && !QUERY_CHARS.test(query))) {
    return 'may only contain the characters of RFC 3986 paths and queries; percent-encode the rest';
  }
  if (query !== undefined && badEscape(query)) return 'has a malformed percent-encoding in its query';
  const decoded: string[] = [];
  for (const segment of path.slice(1).split('/')) {
    const text = decodeSegment(segment);
    if (text === undefined) return `has a malformed percent-encoding in "${segment}"`;
    if (text.includes('/')) return `encodes "/" inside the segment "${segment}"`;
    decoded.push(text);
  }
  const segments = removeDotSegments(decoded);
  const canonical = `/${segments.map(encodeURIComponent).join('/')}${query === undefined ? '' : `?${query}`}`;
  return { segments, canonical };
}

/**
 * The route a request addresses, for keys that must not depend on how the client spelled it (the
 * idempotency scope): each segment of the path decoded and encoded again, as the router's
 * parameters decode them, so `/%66olders` and `/folders` are one route. Segments that do not
 * decode stay as they were (the router refuses such requests anyway).
 */
export function routeOf(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      const text = decodeSegment(segment);
      return text === undefined ? segment : encodeURIComponent(text);
    })
    .join('/');
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function badEscape(text: string): boolean {
  return /%(?![0-9A-Fa-f]{2})/.test(text);
}

/**
 * RFC 3986 5.2.4 on decoded segments: `.` goes, `..` takes the segment before it with it (never
 * above the root), and a path ending in either keeps its trailing `/`.
 */
function removeDotSegments(segments: readonly string[]): string[] {
  const out: string[] = [];
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  });
  return out;
}
