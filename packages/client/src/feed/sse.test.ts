import { describe, expect, it } from 'vitest';
import { readEventStream, type StreamItem } from './sse.js';

/** A body that delivers `chunks` as they are, so that lines and characters split across reads. */
function body(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks)
        controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
      controller.close();
    },
  });
}

async function all(chunks: (string | Uint8Array)[]): Promise<StreamItem[]> {
  const items: StreamItem[] = [];
  for await (const item of readEventStream(body(chunks))) items.push(item);
  return items;
}

describe('readEventStream', () => {
  it('parses events, comments and retry, with any line ending, split anywhere', async () => {
    const text =
      '\uFEFFretry: 1000\r\n: feed from 3\r\n\r\nid: 4\revent: change\ndata: {"a":\ndata: 1}\n\nid: 5\r\ndata:x\r\n\r\n';
    const expected: StreamItem[] = [
      { kind: 'retry', ms: 1000 },
      { kind: 'comment', text: 'feed from 3' },
      { kind: 'event', type: 'change', data: '{"a":\n1}', id: '4' },
      { kind: 'event', type: 'message', data: 'x', id: '5' },
    ];
    expect(await all([text])).toEqual(expected);
    // Every split point, including between \r and \n.
    for (let i = 1; i < text.length; i++)
      expect(await all([text.slice(0, i), text.slice(i)])).toEqual(expected);
  });

  it('decodes UTF-8 split inside a character, and drops an event without its blank line', async () => {
    const bytes = new TextEncoder().encode('data: é€\n\ndata: unfinished');
    const items = await all([bytes.slice(0, 7), bytes.slice(7)]);
    expect(items).toEqual([{ kind: 'event', type: 'message', data: 'é€', id: undefined }]);
  });

  it('keeps the last id for later events, ignores ids with NUL, unknown fields and bad retry', async () => {
    const items = await all(['id: 7\ndata: a\n\ndata: b\n\nid: x\0y\nretry: soon\nfoo: bar\ndata: c\n\n']);
    expect(items.map((i) => (i.kind === 'event' ? [i.data, i.id] : i))).toEqual([
      ['a', '7'],
      ['b', '7'],
      ['c', '7'],
    ]);
  });
});
