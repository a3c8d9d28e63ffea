import type { CallRecord } from './record.js';

/** What the log writer adds to a record from the calls it wrote before (SPEC 5.3, issue 12). */
export interface CallLinks {
  /** The latest earlier call this one repeats, within {@link RETRY_HORIZON_MS}. */
  readonly retryOf: string | null;
  /** It came before the `Retry-After` of the call it repeats. */
  readonly early: boolean;
  /** It repeats a 409 or 412 with the same body, and the caller did not read the resource in between. */
  readonly blind: boolean;
  /** For a conflict: the last successful write on its resource before it. */
  readonly staleBy: { readonly id: string; readonly consumer: string | null; readonly time: number } | null;
}

/** SPEC 5.3: a retry repeats a call of the last 10 minutes. */
export const RETRY_HORIZON_MS = 10 * 60_000;
/** Entries each index keeps at most; the oldest go first. */
const MAX_ENTRIES = 100_000;

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const READS = new Set(['GET', 'HEAD']);
/** Conflicts that make a stale-by link (the resource's version moved on): 409 and 412. */
const STALE = new Set([409, 412]);

interface Sent {
  readonly id: string;
  readonly time: number;
  readonly status: number;
  readonly bodyHash: string;
  /** Epoch ms before which a repeat is early (the answer's Retry-After), or 0. */
  readonly notBefore: number;
}

/**
 * The in-memory indexes the log writer keeps to link a record to earlier ones: the calls of the last
 * 10 minutes by (caller, method, path, Idempotency-Key or body hash), the last read of each resource
 * by each caller, and the last successful write of each resource. One writer per process (the
 * primary with workers) sees every call in the order they finished. Each index holds at most
 * {@link MAX_ENTRIES} entries and nothing older than 10 minutes; a stale-by link older than that is
 * found by a query when the call is shown (CallLog.get).
 *
 * The caller is the consumer's name, or the client IP for calls without one. A repeat counts as a
 * retry when the earlier call did not succeed (status 400 and above, or no answer) or carried an
 * Idempotency-Key: a client polling a URL is not retrying it.
 */
export class CallLinker {
  private readonly sent = new Map<string, Sent>();
  private readonly reads = new Map<string, number>();
  private readonly writes = new Map<string, { id: string; consumer: string | null; time: number }>();

  link(r: CallRecord): CallLinks {
    const who = r.consumer ?? `ip:${r.clientIp}`;
    const hash = r.bodyHash ?? '';
    const call = `${who}\u0000${r.method}\u0000${r.path}\u0000`;
    const key = call + (r.idempotencyKey === null ? `h:${hash}` : `k:${r.idempotencyKey}`);
    const readKey = r.resource === null ? undefined : `${who}\u0000${r.resource}`;
    // A call the gateway answered itself (429, 401, 428...) never read its body: it has no hash, and
    // a later call with a body can still repeat it.
    const before =
      this.sent.get(key) ??
      (r.idempotencyKey === null && hash !== '' ? this.sent.get(`${call}h:`) : undefined);
    let retryOf: string | null = null;
    let early = false;
    let blind = false;
    if (
      before &&
      r.time - before.time <= RETRY_HORIZON_MS &&
      (before.status >= 400 || before.status === 0 || r.idempotencyKey !== null)
    ) {
      retryOf = before.id;
      early = before.notBefore > 0 && r.time < before.notBefore;
      const lastRead = readKey === undefined ? undefined : this.reads.get(readKey);
      blind =
        STALE.has(before.status) &&
        before.bodyHash === hash &&
        (lastRead === undefined || lastRead < before.time);
    }
    const last = r.resource === null ? undefined : this.writes.get(r.resource);
    const staleBy = STALE.has(r.status) && last && last.time <= r.time ? last : null;

    remember(this.sent, key, {
      id: r.id,
      time: r.time,
      status: r.status,
      bodyHash: hash,
      notBefore: r.retryAfter === null ? 0 : r.time + r.durationMs + r.retryAfter * 1000,
    });
    if (readKey !== undefined && READS.has(r.method)) remember(this.reads, readKey, r.time);
    if (r.resource !== null && WRITES.has(r.method) && r.status >= 200 && r.status < 300)
      remember(this.writes, r.resource, { id: r.id, consumer: r.consumer, time: r.time });
    this.forget(r.time - RETRY_HORIZON_MS);
    return { retryOf, early, blind, staleBy: staleBy ? { ...staleBy } : null };
  }

  /** Drops what is past the horizon or over the cap; maps iterate oldest-written first. */
  private forget(horizon: number): void {
    trim(this.sent, (v) => v.time < horizon);
    trim(this.reads, (v) => v < horizon);
    trim(this.writes, (v) => v.time < horizon);
  }
}

/** Sets `key` as the newest entry (deleted first, so iteration order stays by recency). */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
}

function trim<V>(map: Map<string, V>, old: (v: V) => boolean): void {
  for (const [k, v] of map) {
    if (map.size <= MAX_ENTRIES && !old(v)) return;
    map.delete(k);
  }
}
