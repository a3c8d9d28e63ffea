import { describe, expect, it } from 'vitest';
import { callRecord } from './conformance.suite.js';
import { RecordQueue, recordBytes } from './queue.js';

const withBody = (bytes: number) =>
  callRecord({ responseBody: { data: Buffer.alloc(bytes), truncated: false, contentType: 'text/plain' } });

describe('RecordQueue', () => {
  it('refuses records past its count', () => {
    const queue = new RecordQueue(3, Infinity);
    for (let i = 0; i < 3; i++) expect(queue.offer(callRecord())).toBe(true);
    expect(queue.offer(callRecord())).toBe(false);
    expect(queue.length).toBe(3);
  });

  it('refuses records past its bytes, counting headers and bodies, and takes room back as records go', () => {
    const small = recordBytes(callRecord());
    const big = recordBytes(withBody(10_000));
    expect(big - small).toBe(10_000);
    const queue = new RecordQueue(1_000, 2 * big + small);
    expect(queue.offer(withBody(10_000))).toBe(true);
    expect(queue.offer(withBody(10_000))).toBe(true);
    expect(queue.offer(withBody(10_000))).toBe(false);
    expect(queue.offer(callRecord())).toBe(true);
    expect(queue.bytes).toBe(2 * big + small);
    expect(queue.take(1)).toHaveLength(1);
    expect(queue.bytes).toBe(big + small);
    expect(queue.offer(withBody(10_000))).toBe(true);
    expect(queue.clear()).toBe(3);
    expect(queue.bytes).toBe(0);
    expect(queue.length).toBe(0);
  });

  it('hands records out oldest first', () => {
    const queue = new RecordQueue();
    for (const id of ['a', 'b', 'c']) queue.offer(callRecord({ id }));
    expect(queue.take(2).map((r) => r.id)).toEqual(['a', 'b']);
    expect(queue.take().map((r) => r.id)).toEqual(['c']);
  });
});
