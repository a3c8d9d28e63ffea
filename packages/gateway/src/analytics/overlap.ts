import type { WriteRow } from '../calls/log.js';

/** Another consumer's write within this of an unconditional one makes it `overlapping` (SPEC 5.6). */
export const OVERLAP_MS = 60_000;

/** One consumer's writes, as the `unconditional` report counts them (SPEC 5.6). */
export interface WriteCounts {
  consumer: string | null;
  writes: number;
  unconditional: number;
  overlapping: number;
}

/**
 * Per consumer, the writes with a time in [since, until), those without a precondition, and those of
 * them on a resource another consumer wrote successfully within 60 s before or after. `all` holds
 * the writes of [since - 60 s, until + 60 s) in time order.
 */
export function writeCounts(all: readonly WriteRow[], since: number, until: number): WriteCounts[] {
  const done = new Map<string, WriteRow[]>();
  for (const x of all) {
    if (x.resource === null || x.status < 200 || x.status >= 300) continue;
    let list = done.get(x.resource);
    if (!list) done.set(x.resource, (list = []));
    list.push(x);
  }
  const by = new Map<string | null, WriteCounts>();
  for (const x of all) {
    if (x.time < since || x.time >= until) continue;
    let item = by.get(x.consumer);
    if (!item)
      by.set(x.consumer, (item = { consumer: x.consumer, writes: 0, unconditional: 0, overlapping: 0 }));
    item.writes++;
    if (x.conditional) continue;
    item.unconditional++;
    const near = x.resource === null ? undefined : done.get(x.resource);
    if (near && overlaps(near, x)) item.overlapping++;
  }
  return [...by.values()];
}

/** Another consumer's write in `writes` (in time order) within 60 s of `x`: a binary search, then a short scan. */
function overlaps(writes: readonly WriteRow[], x: WriteRow): boolean {
  let lo = 0;
  let hi = writes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (writes[mid]!.time < x.time - OVERLAP_MS) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < writes.length && writes[i]!.time <= x.time + OVERLAP_MS; i++)
    if (writes[i]!.consumer !== x.consumer) return true;
  return false;
}
