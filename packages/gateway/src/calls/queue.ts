import type { CallRecord } from './record.js';

/** Records waiting for a writer at most, per queue (a call log, or a worker's batch for its primary). */
export const MAX_QUEUED_RECORDS = 20_000;
/**
 * Bytes of records waiting at most, per queue, as {@link recordBytes} estimates them. With bodies
 * kept (`log.bodies`), 20,000 records could otherwise hold a few hundred MB while the store is slow;
 * this keeps the gateway's memory bounded whatever the traffic (SPEC 7 B5).
 */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/** What one record of a call, in memory, is taken to weigh: a fixed part, its headers and its bodies. */
export function recordBytes(r: CallRecord): number {
  return (
    RECORD_OVERHEAD +
    headerBytes(r.requestHeaders) +
    headerBytes(r.responseHeaders) +
    (r.requestBody?.data.length ?? 0) +
    (r.responseBody?.data.length ?? 0)
  );
}

/** The fields of a record besides headers and bodies, strings and numbers, generously. */
const RECORD_OVERHEAD = 1024;
/** Per header: its name and value strings, and the property that holds them. */
const HEADER_OVERHEAD = 48;

function headerBytes(headers: Record<string, string>): number {
  let bytes = 0;
  for (const name in headers) bytes += HEADER_OVERHEAD + name.length + headers[name]!.length;
  return bytes;
}

/**
 * Call records waiting for a writer, bounded by count and by bytes. `offer` refuses a record when
 * either bound is reached: the caller drops it and counts it (SPEC 5.3: the log drops records
 * rather than slow or fail requests), so memory stays bounded when the store falls behind.
 */
export class RecordQueue {
  private records: CallRecord[] = [];
  private sizes: number[] = [];
  /** Estimated bytes of what waits. */
  bytes = 0;

  constructor(
    private readonly maxRecords = MAX_QUEUED_RECORDS,
    private readonly maxBytes = MAX_QUEUED_BYTES,
  ) {}

  get length(): number {
    return this.records.length;
  }

  /** Queues the record; false (and nothing queued) when the queue is full by count or by bytes. */
  offer(record: CallRecord): boolean {
    const size = recordBytes(record);
    if (this.records.length >= this.maxRecords || this.bytes + size > this.maxBytes) return false;
    this.records.push(record);
    this.sizes.push(size);
    this.bytes += size;
    return true;
  }

  /** Takes up to `max` of the oldest records out of the queue. */
  take(max = Infinity): CallRecord[] {
    if (max >= this.records.length) {
      const all = this.records;
      this.records = [];
      this.sizes = [];
      this.bytes = 0;
      return all;
    }
    const taken = this.records.splice(0, max);
    for (const size of this.sizes.splice(0, max)) this.bytes -= size;
    return taken;
  }

  /** Empties the queue; returns how many records were in it. */
  clear(): number {
    return this.take().length;
  }
}
