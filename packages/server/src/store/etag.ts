import { randomBytes } from 'node:crypto';

/**
 * A new strong entity-tag for `version` of a resource, quotes included: `"<version base36>-<8
 * base64url chars>"`.
 *
 * The version part alone already keeps tags unique per URL, because versions are never reused (SPEC
 * 3.1). The random part keeps tags opaque and unguessable, and distinct from any tag a previous
 * store (a deleted database file, a restored backup) handed out for the same URL and version, which
 * clients may still cache. Every character is allowed inside an RFC 9110 `opaque-tag`.
 */
export function newEtag(version: number): string {
  return `"${version.toString(36)}-${randomBytes(6).toString('base64url')}"`;
}
