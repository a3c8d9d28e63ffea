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

const OURS = /^"([0-9a-z]{1,11})-[A-Za-z0-9_-]{8}"$/;

/**
 * The version that {@link newEtag} made `etag` for, or undefined when it is not of that form. Only
 * a hint: a store finds the version by it in one step where walking its history down to the tag
 * costs a step per version, and still checks that the tag is the one stored.
 */
export function versionOfEtag(etag: string): number | undefined {
  const digits = OURS.exec(etag)?.[1];
  if (digits === undefined) return undefined;
  const version = Number.parseInt(digits, 36);
  return Number.isSafeInteger(version) && version >= 1 ? version : undefined;
}

/**
 * The history record of `etag` through two lookups: `byVersion` for the version {@link
 * versionOfEtag} reads from it (a walk down the history to that version only), and `walk` (down
 * the whole history) when that is not it: a tag not made by {@link newEtag}, or no longer there.
 */
export async function findByEtag<R extends { readonly etag: string }>(
  etag: string,
  byVersion: (version: number) => Promise<R | null>,
  walk: () => Promise<R | null>,
): Promise<R | null> {
  const hinted = versionOfEtag(etag);
  if (hinted !== undefined) {
    const found = await byVersion(hinted);
    if (found?.etag === etag) return found;
  }
  return walk();
}
