import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for entity-tags, drawn from the operating system's CSPRNG a few kilobytes at a time:
 * one `randomBytes(6)` per write cost a call into the CSPRNG (several microseconds) on the write
 * path; a slice of a refilled pool costs next to nothing and is just as unpredictable.
 */
const POOL_SIZE = 6 * 1024;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

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
  if (offset + 6 > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.toString('base64url', offset, offset + 6);
  offset += 6;
  return `"${version.toString(36)}-${random}"`;
}
