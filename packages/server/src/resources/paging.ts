import { Readable } from 'node:stream';
import type { CollectionConfig } from '../config/types.js';
import { encodeCursor } from '../store/cursor.js';
import type { Head, ListOptions } from '../store/types.js';
import type { ResourceContext } from './context.js';
import { headRepresentation } from './representation.js';

/**
 * Bytes of JSON one page of a list (`GET /{c}`) or of the change feed holds at most. A page ends
 * early, before the item that would cross this, and its cursor continues from there; a page always
 * holds at least one item, so a reader makes progress whatever the size of a document. Counting
 * items alone let one `?limit=1000` of large documents cost the server a gigabyte.
 */
export const PAGE_BYTES = 1024 * 1024;

/**
 * Items read from the store in the first round of a page, before their size is known. Small: with
 * documents near the body limit, fifteen pages being filled at once held 8 each, over 100 MB, and
 * took the server past 300 MB under the review's attacks on a loaded machine.
 */
const FIRST_READ = 2;
/**
 * Items read from the store at once, at most. The store answers with whole documents, so this
 * bounds what one page costs even when small documents come before large ones.
 */
const MAX_READ = 64;

/** One round of reading: the next `count` items after wherever the previous round stopped. */
export type ReadMore<T> = (
  count: number,
) => Promise<{ readonly items: readonly T[]; readonly more: boolean }>;

/** A page filled by {@link fillPage}. */
export interface FilledPage<T> {
  /** Each item's JSON, in order. */
  readonly texts: string[];
  /** The last item of the page, to continue after; undefined when the page is empty. */
  readonly last: T | undefined;
  /** True when items may follow the page (it ended at its limit, at its byte cap, or the store said so). */
  readonly more: boolean;
}

/**
 * Reads items from the store in rounds and renders them until `limit` items or `maxBytes` bytes
 * (never fewer than one item). Rounds start small and grow to what the bytes left can hold, judged
 * by the largest item seen so far, so large documents are read a few at a time and small ones in
 * few rounds.
 */
export async function fillPage<T>(options: {
  readonly limit: number;
  readonly maxBytes?: number | undefined;
  readonly read: ReadMore<T>;
  readonly render: (item: T) => string;
}): Promise<FilledPage<T>> {
  const { limit, read, render } = options;
  const maxBytes = options.maxBytes ?? PAGE_BYTES;
  const texts: string[] = [];
  let last: T | undefined;
  let bytes = 0;
  let largest = 0;
  for (;;) {
    const left = limit - texts.length;
    const fits = largest === 0 ? FIRST_READ : Math.floor((maxBytes - bytes) / largest);
    const round = await read(Math.max(1, Math.min(left, MAX_READ, fits)));
    for (const item of round.items) {
      const text = render(item);
      const size = Buffer.byteLength(text);
      // The first item always goes in, or a document larger than the cap would block the reader.
      if (texts.length > 0 && bytes + size > maxBytes) return { texts, last, more: true };
      texts.push(text);
      last = item;
      bytes += size + 1; // the comma between items
      largest = Math.max(largest, size);
      if (texts.length === limit) {
        return { texts, last, more: item !== round.items[round.items.length - 1] || round.more };
      }
    }
    if (!round.more || round.items.length === 0) return { texts, last, more: false };
  }
}

/**
 * A JSON document written piece by piece: `head`, the items separated by commas, then `tail`. The
 * response stream takes one item at a time as the socket accepts it, so a reader that does not
 * read costs the page's items, never a second copy of them joined into one string.
 */
export function jsonStream(head: string, texts: readonly string[], tail: string): Readable {
  function* pieces(): Generator<string> {
    yield head;
    for (const [i, text] of texts.entries()) yield i === 0 ? text : `,${text}`;
    yield tail;
  }
  return Readable.from(pieces(), { objectMode: false });
}

/**
 * One page of `GET /{c}` as JSON texts and the cursor of the next page (null on the last page).
 *
 * @throws InvalidCursorError for a cursor the store did not issue.
 */
export async function listPage(
  ctx: ResourceContext,
  collection: CollectionConfig,
  options: ListOptions,
): Promise<{ texts: string[]; next: string | null }> {
  let cursor = options.cursor;
  const page = await fillPage<Head>({
    limit: options.limit,
    read: async (count) => {
      const got = await ctx.store.list(collection.name, { ...options, limit: count, cursor });
      cursor = got.next ?? undefined;
      return { items: got.items, more: got.next !== null };
    },
    render: (head) => JSON.stringify(headRepresentation(head)),
  });
  // A page that ended before the store's round did continues after its last item. List cursors
  // are keyset positions made by store/cursor.ts for every adapter, so the server can make one.
  const next = page.more && page.last !== undefined ? encodeCursor(collection.name, page.last.id) : null;
  return { texts: page.texts, next };
}
