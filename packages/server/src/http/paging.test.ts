import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_BYTES } from '../resources/paging.js';
import { json, startTestServer, type TestServer } from '../testing/harness.js';

/*
 * Pages end early when their items reach PAGE_BYTES (issue 10, item 2): walking the cursor (or the
 * feed's `last`) must still return every item exactly once, in order.
 */

let server: TestServer;
/** Large and small documents interleaved, so pages end at every kind of boundary. */
const ids: string[] = [];
const BIG = 300_000;

beforeAll(async () => {
  server = await startTestServer('collections: { docs: {} }');
  for (let i = 0; i < 30; i++) {
    const id = `p${String(i).padStart(2, '0')}`;
    ids.push(id);
    const size = i % 3 === 2 ? 10 : BIG;
    const res = await server.request(
      `/docs/${id}`,
      json({ kind: i % 2 ? 'odd' : 'even', text: 'x'.repeat(size) }),
    );
    expect(res.status).toBe(201);
    await res.arrayBuffer();
  }
}, 60_000);
afterAll(() => server.close());

/** The items of a page's JSON, measured as the server counts them (each item's JSON, plus commas). */
function itemBytes(items: unknown[]): number {
  return items.reduce<number>((sum, item) => sum + Buffer.byteLength(JSON.stringify(item)) + 1, 0);
}

describe('list pages are capped in bytes', () => {
  it.each([
    ['every document', '', () => ids],
    ['a filtered list', 'kind=odd&', () => ids.filter((_, i) => i % 2 === 1)],
  ])('%s: the cursor walks every item exactly once, pages ending early', async (_name, filter, expected) => {
    const seen: string[] = [];
    let pages = 0;
    let next: string | null = null;
    do {
      const cursor: string = next === null ? '' : `&cursor=${encodeURIComponent(next)}`;
      const res = await server.request(`/docs?${filter}limit=1000${cursor}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { id: string }[]; next: string | null };
      expect(page.items.length).toBeGreaterThan(0);
      // A page holds at most PAGE_BYTES of items, or a single item.
      if (page.items.length > 1) expect(itemBytes(page.items)).toBeLessThanOrEqual(PAGE_BYTES);
      expect(res.headers.get('link') !== null).toBe(page.next !== null);
      seen.push(...page.items.map((item) => item.id));
      next = page.next;
      pages++;
    } while (next !== null);
    expect(seen).toEqual(expected());
    expect(pages).toBeGreaterThan(3);
  });

  it('keeps small pages whole and item limits as they were', async () => {
    const res = await server.request('/docs?limit=2&kind=odd');
    const page = (await res.json()) as { items: { id: string }[]; next: string | null };
    expect(page.items.map((i) => i.id)).toEqual(['p01', 'p03']);
    expect(page.next).not.toBeNull();
    const head = await server.request('/docs?limit=1000', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});

describe('change feed pages are capped in bytes', () => {
  it('walks every change exactly once by `last`, pages ending early', async () => {
    const seen: string[] = [];
    let since = 0;
    let pages = 0;
    for (;;) {
      const res = await server.request(`/docs/_changes?since=${since}&limit=1000`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { results: { seq: number; id: string }[]; last: number };
      if (page.results.length === 0) {
        expect(page.last).toBe(since);
        break;
      }
      if (page.results.length > 1) expect(itemBytes(page.results)).toBeLessThanOrEqual(PAGE_BYTES);
      expect(page.last).toBe(page.results[page.results.length - 1]!.seq);
      seen.push(...page.results.map((c) => c.id));
      since = page.last;
      pages++;
    }
    expect(seen).toEqual(ids);
    expect(pages).toBeGreaterThan(3);
  });

  it('streams every change exactly once as events', async () => {
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 20_000);
    const res = await server.request('/docs/_changes?since=0', {
      headers: { accept: 'text/event-stream' },
      signal: stop.signal,
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const seen: string[] = [];
    let buffer = '';
    try {
      while (seen.length < ids.length) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const data = /^data: (.*)$/m.exec(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (data) seen.push((JSON.parse(data[1]!) as { id: string }).id);
        }
      }
    } finally {
      clearTimeout(timer);
      stop.abort();
    }
    expect(seen).toEqual(ids);
  });
});
