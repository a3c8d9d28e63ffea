/** Media types the resource routes read. */
export const MEDIA = {
  json: 'application/json',
  mergePatch: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
} as const;

/** Value of Accept-Patch (RFC 5789 section 3.1). */
export const ACCEPT_PATCH = `${MEDIA.mergePatch}, ${MEDIA.jsonPatch}`;

/** The media type of a request without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`). */
export function mediaTypeOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}
