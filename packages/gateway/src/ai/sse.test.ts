import { describe, expect, it } from 'vitest';
import { SSE_DONE, SSE_MAX_EVENT_CHARS, SseParser, sseData } from './sse.js';

/** The event-stream parser providers' streams go through, fed the way sockets deliver text. */
describe('SseParser', () => {
  it('parses events with event and id fields, a space after the colon being optional', () => {
    const parser = new SseParser();
    const events = parser.push('event: message_start\nid: 1\ndata: {"a":1}\n\nevent:ping\ndata:{}\n\n');
    expect(events).toEqual([
      { event: 'message_start', data: '{"a":1}', id: '1' },
      // The last id carries over, as in EventSource.
      { event: 'ping', data: '{}', id: '1' },
    ]);
  });

  it('keeps a second space and joins several data lines with a newline', () => {
    const parser = new SseParser();
    expect(parser.push('data:  two spaces\ndata: line 2\ndata\n\n')).toEqual([
      { event: undefined, data: ' two spaces\nline 2\n', id: undefined },
    ]);
  });

  it('ignores comments, unknown fields and blank lines without data', () => {
    const parser = new SseParser();
    expect(parser.push(': OPENROUTER PROCESSING\n\nretry: 100\nfoo: bar\n\n\n')).toEqual([]);
    expect(parser.push(': keep-alive\ndata: x\n\n')).toEqual([
      { event: undefined, data: 'x', id: undefined },
    ]);
  });

  it('accepts CRLF, LF and CR line endings', () => {
    for (const eol of ['\r\n', '\n', '\r']) {
      const parser = new SseParser();
      const text = `event: a${eol}data: 1${eol}${eol}data: 2${eol}${eol}`;
      expect(parser.push(text).map((event) => [event.event, event.data])).toEqual([
        ['a', '1'],
        [undefined, '2'],
      ]);
    }
  });

  it('gives the same events however the text is split, even between CR and LF', () => {
    const text = 'event: x\r\ndata: {"k":"v\u00e9"}\r\n\r\ndata: a\rdata: b\r\rdata: [DONE]\n\n';
    const whole = new SseParser().push(text);
    expect(whole).toHaveLength(3);
    for (let size = 1; size <= 7; size++) {
      const parser = new SseParser();
      const events = [];
      for (let at = 0; at < text.length; at += size) events.push(...parser.push(text.slice(at, at + size)));
      events.push(...parser.end());
      expect(events).toEqual(whole);
    }
    // Every split point, in two pieces.
    for (let at = 0; at <= text.length; at++) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, at)), ...parser.push(text.slice(at)), ...parser.end()];
      expect(events).toEqual(whole);
    }
  });

  it('a CR ending one chunk and an LF starting the next are one line ending, not a blank line', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\r')).toEqual([]);
    expect(parser.push('\ndata: b\r')).toEqual([]);
    expect(parser.push('\n\r\n')).toEqual([{ event: undefined, data: 'a\nb', id: undefined }]);
  });

  it('skips a byte order mark at the start of the stream only', () => {
    const parser = new SseParser();
    expect(parser.push('')).toEqual([]);
    expect(parser.push('\uFEFFdata: a\n\n\uFEFFdata: b\n\n')).toEqual([
      { event: undefined, data: 'a', id: undefined },
    ]);
  });

  it('end() dispatches a last event not followed by a blank line, and nothing twice', () => {
    const parser = new SseParser();
    expect(parser.push('data: 1\n\ndata: last')).toHaveLength(1);
    expect(parser.end()).toEqual([{ event: undefined, data: 'last', id: undefined }]);
    expect(parser.end()).toEqual([]);
  });

  it('throws when an event buffers more than 8 MiB, in one line or in many', () => {
    const line = new SseParser();
    const piece = 'x'.repeat(1024 * 1024);
    expect(() => {
      for (let i = 0; i < 9; i++) line.push(i === 0 ? `data: ${piece}` : piece);
    }).toThrow(/without ending an event/);
    const lines = new SseParser();
    expect(() => {
      for (let i = 0; i < 9; i++) lines.push(`data: ${piece}\n`);
    }).toThrow(/without ending an event/);
    // Dispatched events do not count against the next one.
    const many = new SseParser();
    for (let i = 0; i < 12; i++) expect(many.push(`data: ${piece}\n\n`)).toHaveLength(1);
    expect(SSE_MAX_EVENT_CHARS).toBe(8 * 1024 * 1024);
  });
});

describe('sseData', () => {
  it('writes one data event, and [DONE]', () => {
    expect(sseData({ a: 'b\nc' })).toBe('data: {"a":"b\\nc"}\n\n');
    expect(SSE_DONE).toBe('data: [DONE]\n\n');
    expect(new SseParser().push(sseData({ x: 1 }) + SSE_DONE).map((event) => event.data)).toEqual([
      '{"x":1}',
      '[DONE]',
    ]);
  });
});
