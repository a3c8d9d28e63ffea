// The resources a scenario works on, and the ETag the bench believes is current for each. Both
// servers get the same ids, the same body and the same seeding requests, so the requests of a
// run differ between baseline and Truce only in the ETag values they carry.
import { setTimeout as delay } from 'node:timers/promises';

/** The JSON body of every PUT (about 160 bytes): a few fields of the kinds real documents have. */
export const BODY = JSON.stringify({
  title: 'benchmark thing',
  count: 1234567,
  tags: ['alpha', 'beta', 'gamma'],
  note: 'A short note so that the body is not trivially small; the same bytes go to both servers.',
});

/**
 * `count` resources named `thing-0000`, `thing-0001`, ...; `etag` is filled in by {@link seed}.
 * @returns {{ id: string, path: string, etag: string }[]}
 */
export function makeResources(count) {
  return Array.from({ length: count }, (_, i) => {
    const id = `thing-${String(i).padStart(4, '0')}`;
    return { id, path: `/things/${id}`, etag: '' };
  });
}

/** Creates every resource with an unconditional PUT and records the ETag it answered. */
export async function seed(baseUrl, resources) {
  for (const resource of resources) {
    const response = await globalThis.fetch(baseUrl + resource.path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: BODY,
    });
    await response.arrayBuffer();
    const etag = response.headers.get('etag');
    if (!response.ok || !etag) {
      throw new Error(`seeding ${resource.path} answered ${response.status} (etag ${etag ?? 'none'})`);
    }
    resource.etag = etag;
  }
}

/**
 * Re-reads the current ETags after a load run. A run ends with requests in flight whose answers
 * autocannon drops, so the bench's view may be behind the server's. The short pause lets the
 * server finish those requests first. A server that sends no ETag on GET (the B2 baseline) keeps
 * the ETags it had, which it never checks anyway.
 */
export async function refreshEtags(baseUrl, resources) {
  await delay(250);
  for (const resource of resources) {
    const response = await globalThis.fetch(baseUrl + resource.path);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`re-reading ${resource.path} answered ${response.status}`);
    resource.etag = response.headers.get('etag') ?? resource.etag;
  }
}

/** POSTs a JSON body and returns the JSON answer; any status but `expected` is an error. */
export async function postJson(baseUrl, path, body, expected) {
  const response = await globalThis.fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== expected) throw new Error(`POST ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** GETs a JSON resource; anything but 200 is an error. */
export async function getJson(baseUrl, path) {
  const response = await globalThis.fetch(baseUrl + path);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}
