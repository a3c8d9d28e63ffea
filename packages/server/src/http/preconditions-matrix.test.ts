import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

/**
 * Every combination of the four conditional headers on GET, HEAD, PUT, PATCH and DELETE, against
 * an existing and a missing resource, through real HTTP. The expected status comes from a decision
 * table written from RFC 9110 13.2.2 independently of the implementation.
 */

type Tag = 'none' | 'current' | 'stale' | 'star' | 'weak-current' | 'list-with-current';
type DateCond = 'none' | 'past' | 'future' | 'invalid';
interface Case {
  method: 'GET' | 'HEAD' | 'PUT' | 'PATCH' | 'DELETE';
  exists: boolean;
  ifMatch: Tag;
  ifNoneMatch: Tag;
  ifUnmodifiedSince: DateCond;
  ifModifiedSince: DateCond;
}

function expected(c: Case): number {
  const read = c.method === 'GET' || c.method === 'HEAD';
  // 13.2.1: conditions are ignored when the unconditional response would be an error.
  if (!c.exists && c.method !== 'PUT') return 404;
  const strongMatch = (t: Tag) => c.exists && (t === 'current' || t === 'list-with-current' || t === 'star');
  const weakMatch = (t: Tag) => c.exists && t !== 'stale';
  if (c.ifMatch !== 'none') {
    if (!strongMatch(c.ifMatch)) return 412;
  } else if (c.ifUnmodifiedSince === 'past' && c.exists) {
    return 412;
  }
  if (c.ifNoneMatch !== 'none') {
    if (weakMatch(c.ifNoneMatch)) return read ? 304 : 412;
  } else if (read && c.ifModifiedSince === 'future' && c.exists) {
    return 304;
  }
  if (read) return 200;
  if (c.method === 'PUT') return c.exists ? 200 : 201;
  return c.method === 'PATCH' ? 200 : 204;
}

const tags: Tag[] = ['none', 'current', 'stale', 'star', 'weak-current', 'list-with-current'];
const dates: DateCond[] = ['none', 'past', 'future', 'invalid'];
const cases: Case[] = [];
for (const method of ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'] as const) {
  for (const exists of [true, false]) {
    for (const ifMatch of tags) {
      for (const ifNoneMatch of tags) {
        for (const ifUnmodifiedSince of dates) {
          for (const ifModifiedSince of dates) {
            cases.push({ method, exists, ifMatch, ifNoneMatch, ifUnmodifiedSince, ifModifiedSince });
          }
        }
      }
    }
  }
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('collections: { things: {} }');
});
afterAll(async () => server.close());

function tagHeader(t: Tag, current: string | undefined, stale: string): string | undefined {
  const cur = current ?? '"never-issued"';
  switch (t) {
    case 'none':
      return undefined;
    case 'current':
      return cur;
    case 'stale':
      return stale;
    case 'star':
      return '*';
    case 'weak-current':
      return `W/${cur}`;
    case 'list-with-current':
      return `${stale}, ${cur}`;
  }
}

function dateHeader(d: DateCond): string | undefined {
  switch (d) {
    case 'none':
      return undefined;
    case 'past':
      return 'Sat, 01 Jan 2000 00:00:00 GMT';
    case 'future':
      return new Date(Date.now() + 86_400_000).toUTCString();
    case 'invalid':
      return 'yesterday at noon';
  }
}

describe('RFC 9110 13.2.2 precondition matrix through HTTP', () => {
  it(`answers all ${cases.length} combinations as the RFC says`, async () => {
    const failures: string[] = [];
    let n = 0;
    // Run in parallel batches: each case has its own resource.
    for (let i = 0; i < cases.length; i += 64) {
      await Promise.all(
        cases.slice(i, i + 64).map(async (c) => {
          const path = `/things/case-${n++}`;
          let current: string | undefined;
          let stale = '"stale-tag"';
          if (c.exists) {
            const first = await server.request(path, json({ v: 1 }));
            stale = first.headers.get('etag')!;
            const second = await server.request(path, json({ v: 2 }));
            current = second.headers.get('etag')!;
          }
          const headers: Record<string, string> = {};
          const set = (name: string, value: string | undefined) =>
            value !== undefined && (headers[name] = value);
          set('if-match', tagHeader(c.ifMatch, current, stale));
          set('if-none-match', tagHeader(c.ifNoneMatch, current, stale));
          set('if-unmodified-since', dateHeader(c.ifUnmodifiedSince));
          set('if-modified-since', dateHeader(c.ifModifiedSince));
          let init: RequestInit = { method: c.method, headers };
          if (c.method === 'PUT') init = json({ v: 3 }, headers);
          if (c.method === 'PATCH') {
            init = {
              method: 'PATCH',
              headers: { ...headers, 'content-type': 'application/merge-patch+json' },
              body: '{"v":3}',
            };
          }
          const res = await server.request(path, init);
          await res.arrayBuffer();
          const want = expected(c);
          if (res.status !== want) failures.push(`${JSON.stringify(c)}: got ${res.status}, want ${want}`);
          if (res.status === 304 && res.headers.get('etag') !== current)
            failures.push(`${JSON.stringify(c)}: 304 without ETag`);
          // A refused write changes nothing.
          if (c.exists && want >= 400) {
            const after = await server.request(path);
            if (after.headers.get('etag') !== current)
              failures.push(`${JSON.stringify(c)}: refused write changed the resource`);
            await after.arrayBuffer();
          }
        }),
      );
    }
    expect(failures.slice(0, 20)).toEqual([]);
  }, 120_000);
});
