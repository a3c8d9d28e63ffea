import { describe, expect, it } from 'vitest';
import { SseParser } from '../sse.js';
import type { AnswerContext, ChatChunk } from '../types.js';
import { anthropicAdapter } from './anthropic.js';

/** The Anthropic stream translator against event sequences shaped like the streaming reference's. */
const context: AnswerContext = { id: 'chatcmpl-gw2', created: 1733300000, model: 'smart' };
const head = { id: 'chatcmpl-gw2', object: 'chat.completion.chunk', created: 1733300000, model: 'smart' };

function events(list: readonly [string, unknown][]): string {
  return list.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('');
}

function stream(text: string): {
  chunks: ChatChunk[];
  streamer: ReturnType<typeof anthropicAdapter.streamer>;
} {
  const streamer = anthropicAdapter.streamer(context);
  const parser = new SseParser();
  const chunks = [...parser.push(text), ...parser.end()].flatMap((event) => streamer.event(event));
  chunks.push(...streamer.end());
  return { chunks, streamer };
}

describe('anthropic stream', () => {
  it('translates a text stream, its finish reason and its usage', () => {
    const { chunks, streamer } = stream(
      events([
        [
          'message_start',
          {
            type: 'message_start',
            message: {
              id: 'msg_1',
              type: 'message',
              role: 'assistant',
              content: [],
              model: 'claude-sonnet-4-20250514',
              stop_reason: null,
              stop_sequence: null,
              usage: { input_tokens: 25, cache_read_input_tokens: 3, output_tokens: 1 },
            },
          },
        ],
        [
          'content_block_start',
          { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        ],
        ['ping', { type: 'ping' }],
        [
          'content_block_delta',
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
        ],
        [
          'content_block_delta',
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '!' } },
        ],
        ['content_block_stop', { type: 'content_block_stop', index: 0 }],
        [
          'message_delta',
          {
            type: 'message_delta',
            delta: { stop_reason: 'end_turn', stop_sequence: null },
            usage: { output_tokens: 15 },
          },
        ],
        ['message_stop', { type: 'message_stop' }],
      ]),
    );
    expect(chunks).toEqual([
      { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: '!' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      { ...head, choices: [], usage: { prompt_tokens: 28, completion_tokens: 15, total_tokens: 43 } },
    ]);
    expect(streamer.usage()).toEqual({ input: 28, output: 15, estimated: false });
    expect(streamer.failure()).toBeUndefined();
  });

  it('numbers tool calls apart from text blocks and passes arguments split across deltas', () => {
    const delta = (index: number, partial_json: string) =>
      [
        'content_block_delta',
        { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } },
      ] as [string, unknown];
    const { chunks, streamer } = stream(
      events([
        [
          'message_start',
          { type: 'message_start', message: { usage: { input_tokens: 472, output_tokens: 2 } } },
        ],
        [
          'content_block_start',
          { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        ],
        [
          'content_block_delta',
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Checking.' } },
        ],
        ['content_block_stop', { type: 'content_block_stop', index: 0 }],
        [
          'content_block_start',
          {
            type: 'content_block_start',
            index: 1,
            content_block: {
              type: 'tool_use',
              id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
              name: 'get_weather',
              input: {},
            },
          },
        ],
        delta(1, ''),
        delta(1, '{"location":'),
        delta(1, ' "San Francisco, CA"}'),
        ['content_block_stop', { type: 'content_block_stop', index: 1 }],
        [
          'content_block_start',
          {
            type: 'content_block_start',
            index: 2,
            content_block: { type: 'tool_use', id: 'toolu_02', name: 'now', input: {} },
          },
        ],
        delta(2, '{}'),
        [
          'message_delta',
          { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 89 } },
        ],
        ['message_stop', { type: 'message_stop' }],
      ]),
    );
    const calls = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
    expect(calls[0]).toEqual({
      index: 0,
      id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    expect(
      calls
        .filter((call) => call.index === 0)
        .map((call) => call.function?.arguments)
        .join(''),
    ).toBe('{"location": "San Francisco, CA"}');
    expect(calls.filter((call) => call.index === 1)).toEqual([
      { index: 1, id: 'toolu_02', type: 'function', function: { name: 'now', arguments: '' } },
      { index: 1, function: { arguments: '{}' } },
    ]);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 472, completion_tokens: 89, total_tokens: 561 });
    expect(streamer.usage()).toEqual({ input: 472, output: 89, estimated: false });
  });

  it('emits the usage chunk at the end when message_stop never came, and only once', () => {
    const { chunks } = stream(
      'data: {"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
        'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n',
    );
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.filter((chunk) => chunk.usage !== undefined)).toHaveLength(1);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 });
    const none = stream(': nothing\n\n');
    expect(none.chunks).toEqual([]);
    expect(none.streamer.usage()).toBeUndefined();
  });

  it('puts the role on the first chunk even without message_start, and ignores junk', () => {
    const { chunks } = stream(
      'event: content_block_delta\ndata: {"index":0,"delta":{"type":"text_delta","text":"a"}}\n\n' +
        'data: not json\n\nevent: content_block_delta\ndata: {"index":9,"delta":{"type":"input_json_delta","partial_json":"{"}}\n\n' +
        'event: content_block_delta\ndata: {"index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}\n\n',
    );
    expect(chunks).toEqual([
      { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: 'a' }, finish_reason: null }] },
    ]);
  });

  it('maps error events', () => {
    const failure = (type: string, message: string) =>
      stream(events([['error', { type: 'error', error: { type, message } }]])).streamer.failure();
    expect(failure('overloaded_error', 'Overloaded')).toEqual({
      code: 'model-unavailable',
      providerStatus: 529,
      message: 'Overloaded',
      retryAfter: undefined,
      fallback: true,
    });
    expect(failure('rate_limit_error', 'Slow down')).toMatchObject({
      code: 'model-rate-limited',
      fallback: true,
    });
    expect(failure('invalid_request_error', 'bad')).toMatchObject({
      code: 'model-request-invalid',
      fallback: false,
    });
    expect(failure('api_error', 'Internal')).toMatchObject({
      code: 'model-unavailable',
      providerStatus: 500,
    });
    const after = stream(
      events([
        ['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }],
        [
          'content_block_delta',
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x' } },
        ],
      ]),
    );
    expect(after.chunks).toEqual([]);
  });
});
