import { describe, expect, it } from 'vitest';
import { SseParser } from '../sse.js';
import type { AnswerContext, ChatChunk, ChatRequest, ModelTarget, ProviderConfig } from '../types.js';
import { openaiAdapter } from './openai.js';

/** The OpenAI adapter against payloads shaped like the Chat Completions API reference's. */
const provider: ProviderConfig = {
  name: 'openai',
  kind: 'openai',
  baseUrl: 'https://api.openai.com/v1',
  key: 'sk-test',
  headers: { 'openai-organization': 'org-1' },
  version: undefined,
  timeouts: { connectMs: 5000, responseMs: 60000 },
};
const target: ModelTarget = { provider: 'openai', model: 'gpt-4o-mini-2024-07-18', maxTokens: 512 };
const context: AnswerContext = { id: 'chatcmpl-gw1', created: 1733300000, model: 'fast' };
const request: ChatRequest = {
  model: 'fast',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Weather in Paris?' },
  ],
  temperature: 0.2,
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ],
};

function stream(text: string): { chunks: ChatChunk[]; streamer: ReturnType<typeof openaiAdapter.streamer> } {
  const streamer = openaiAdapter.streamer(context);
  const parser = new SseParser();
  const chunks = [...parser.push(text), ...parser.end()].flatMap((event) => streamer.event(event));
  chunks.push(...streamer.end());
  return { chunks, streamer };
}

describe('openai request', () => {
  it('passes the body through with the provider model, a default max_tokens and the key', () => {
    const call = openaiAdapter.request(request, target, provider, false);
    expect(call.path).toBe('/chat/completions');
    expect(call.headers).toEqual({
      'content-type': 'application/json',
      authorization: 'Bearer sk-test',
      'openai-organization': 'org-1',
    });
    const body = JSON.parse(call.body) as Record<string, unknown>;
    expect(body).toEqual({ ...request, model: 'gpt-4o-mini-2024-07-18', max_tokens: 512 });
    expect(body).not.toHaveProperty('stream');
  });

  it('keeps the client max_tokens or max_completion_tokens, sends no key when there is none', () => {
    const keyless = { ...provider, key: undefined, headers: {} };
    const own = JSON.parse(openaiAdapter.request({ ...request, max_tokens: 9 }, target, keyless, false).body);
    expect(own.max_tokens).toBe(9);
    const completion = JSON.parse(
      openaiAdapter.request({ ...request, max_completion_tokens: 7 }, target, keyless, false).body,
    );
    expect(completion).not.toHaveProperty('max_tokens');
    expect(completion.max_completion_tokens).toBe(7);
    const none = openaiAdapter.request(request, { ...target, maxTokens: undefined }, keyless, false);
    expect(JSON.parse(none.body)).not.toHaveProperty('max_tokens');
    expect(none.headers).toEqual({ 'content-type': 'application/json' });
  });

  it('streams with usage forced on, and drops the client stream flags when not streaming', () => {
    const asked: ChatRequest = { ...request, stream: true, stream_options: { include_usage: false } };
    const streamed = JSON.parse(openaiAdapter.request(asked, target, provider, true).body);
    expect(streamed.stream).toBe(true);
    expect(streamed.stream_options).toEqual({ include_usage: true });
    const whole = JSON.parse(openaiAdapter.request(asked, target, provider, false).body);
    expect(whole).not.toHaveProperty('stream');
    expect(whole).not.toHaveProperty('stream_options');
  });
});

describe('openai answer', () => {
  it('re-labels a text answer and reads its usage', () => {
    const body = {
      id: 'chatcmpl-abc123',
      object: 'chat.completion',
      created: 1741569952,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Sunny, 21 °C.', refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 19,
        completion_tokens: 10,
        total_tokens: 29,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      },
      service_tier: 'default',
      system_fingerprint: 'fp_1',
    };
    expect(openaiAdapter.answer(body, context)).toEqual({
      completion: {
        id: 'chatcmpl-gw1',
        object: 'chat.completion',
        created: 1733300000,
        model: 'fast',
        choices: [
          { index: 0, message: { role: 'assistant', content: 'Sunny, 21 °C.' }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 19, completion_tokens: 10, total_tokens: 29 },
      },
      usage: { input: 19, output: 10, estimated: false },
    });
  });

  it('keeps tool calls and refusals, and has no usage when none came', () => {
    const body = {
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
              { id: 'call_bad', type: 'function', function: { arguments: 3 } },
            ],
          },
          finish_reason: 'tool_calls',
        },
        {
          index: 1,
          message: { role: 'assistant', content: null, refusal: 'I cannot help.' },
          finish_reason: 'stop',
        },
      ],
    };
    const { completion, usage } = openaiAdapter.answer(body, context);
    expect(usage).toBeUndefined();
    expect(completion).not.toHaveProperty('usage');
    expect(completion.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      ],
    });
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(completion.choices[1]?.message.refusal).toBe('I cannot help.');
  });

  it('survives malformed bodies and rejects non-objects with a clear error', () => {
    const odd = { choices: [null, 3, { message: 'x', finish_reason: 42 }], usage: { prompt_tokens: '1' } };
    const { completion, usage } = openaiAdapter.answer(odd, context);
    expect(completion.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: null }, finish_reason: null },
    ]);
    expect(usage).toBeUndefined();
    expect(openaiAdapter.answer({ choices: 'no' }, context).completion.choices).toEqual([]);
    for (const bad of [null, 'text', [1], 3]) {
      expect(() => openaiAdapter.answer(bad, context)).toThrow(/not a JSON object|other than a JSON object/);
    }
  });
});

describe('openai stream', () => {
  it('re-labels text chunks and records the usage-only last chunk', () => {
    const base = '"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini"';
    const text = [
      `data: {${base},"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}],"usage":null}`,
      `data: {${base},"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}`,
      `data: {${base},"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}],"usage":null}`,
      `data: {${base},"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
      `data: {${base},"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10}}`,
      'data: [DONE]',
      '',
      '',
    ].join('\n\n');
    const { chunks, streamer } = stream(text);
    const head = { id: 'chatcmpl-gw1', object: 'chat.completion.chunk', created: 1733300000, model: 'fast' };
    expect(chunks).toEqual([
      { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      { ...head, choices: [], usage: { prompt_tokens: 8, completion_tokens: 2, total_tokens: 10 } },
    ]);
    expect(streamer.usage()).toEqual({ input: 8, output: 2, estimated: false });
    expect(streamer.failure()).toBeUndefined();
  });

  it('passes tool call deltas whose arguments are split across chunks', () => {
    const chunk = (delta: object, finish: string | null = null): string =>
      `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const text =
      chunk({
        role: 'assistant',
        content: null,
        tool_calls: [
          { index: 0, id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }) +
      chunk({}, 'tool_calls') +
      'data: [DONE]\n\n';
    const { chunks, streamer } = stream(text);
    const calls = chunks.flatMap((c) => c.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
    expect(calls).toEqual([
      { index: 0, id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"ci' } },
      { index: 0, function: { arguments: 'ty":"Paris"}' } },
    ]);
    expect(calls.map((call) => call.function?.arguments ?? '').join('')).toBe('{"city":"Paris"}');
    expect(chunks[0]?.choices[0]?.delta).toMatchObject({ role: 'assistant', content: null });
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(streamer.usage()).toBeUndefined();
  });

  it('ignores noise, stops at [DONE] and notices an error sent inside the stream', () => {
    const { chunks, streamer } = stream(
      ': keep-alive\n\ndata: not json\n\ndata: {"choices":[],"prompt_filter_results":[]}\n\n' +
        'data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","code":null}}\n\n' +
        'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\n',
    );
    expect(chunks).toEqual([]);
    expect(streamer.failure()).toEqual({
      code: 'model-unavailable',
      providerStatus: 200,
      message: 'The server had an error while processing your request.',
      retryAfter: undefined,
      fallback: true,
    });
    const done = stream('data: [DONE]\n\ndata: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n');
    expect(done.chunks).toEqual([]);
  });

  it('maps stream errors by status (vLLM) or by type', () => {
    const vllm = stream('data: {"error":{"object":"error","message":"too many","type":"x","code":429}}\n\n');
    expect(vllm.streamer.failure()).toMatchObject({ code: 'model-rate-limited', providerStatus: 429 });
    const context = stream(
      'data: {"error":{"message":"This model\'s maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}\n\n',
    );
    expect(context.streamer.failure()).toMatchObject({ code: 'context-too-long', fallback: false });
    const invalid = stream('data: {"error":{"message":"bad","type":"invalid_request_error"}}\n\n');
    expect(invalid.streamer.failure()).toMatchObject({ code: 'model-request-invalid', fallback: false });
    const plain = stream('data: {"error":"model crashed"}\n\n');
    expect(plain.streamer.failure()).toMatchObject({ code: 'model-unavailable', message: 'model crashed' });
  });
});

describe('openai failure', () => {
  const error = (message: string, type: string, code: string | null): string =>
    JSON.stringify({ error: { message, type, param: null, code } });

  it('maps 429 with each kind of reset header', () => {
    const body = error(
      'Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.',
      'requests',
      'rate_limit_exceeded',
    );
    expect(openaiAdapter.failure(429, { 'retry-after': '20' }, body)).toEqual({
      code: 'model-rate-limited',
      providerStatus: 429,
      message: 'Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.',
      retryAfter: 20,
      fallback: true,
    });
    const date = new Date(Date.now() + 30_000).toUTCString();
    const fromDate = openaiAdapter.failure(429, { 'retry-after': date }, body).retryAfter ?? 0;
    expect(fromDate).toBeGreaterThanOrEqual(29);
    expect(fromDate).toBeLessThanOrEqual(31);
    expect(openaiAdapter.failure(429, { 'retry-after-ms': '1500' }, body).retryAfter).toBe(2);
    const both = { 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' };
    expect(openaiAdapter.failure(429, both, body).retryAfter).toBe(360);
    const requestsOut = {
      ...both,
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-remaining-tokens': '149000',
    };
    expect(openaiAdapter.failure(429, requestsOut, body).retryAfter).toBe(1);
    expect(openaiAdapter.failure(429, { 'x-ratelimit-reset-tokens': '20ms' }, body).retryAfter).toBe(1);
    expect(openaiAdapter.failure(429, {}, body).retryAfter).toBeUndefined();
  });

  it('lets the next model try on 5xx, a bad key and an unknown model', () => {
    for (const status of [500, 502, 503, 401, 403, 404]) {
      const failure = openaiAdapter.failure(
        status,
        {},
        error('Incorrect API key provided: sk-…', 'invalid_request_error', 'invalid_api_key'),
      );
      expect(failure).toMatchObject({ code: 'model-unavailable', providerStatus: status, fallback: true });
    }
    expect(openaiAdapter.failure(503, { 'retry-after': '5' }, '').retryAfter).toBe(5);
  });

  it('tells a context too long from another invalid request', () => {
    const long = error(
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
      'invalid_request_error',
      'context_length_exceeded',
    );
    expect(openaiAdapter.failure(400, {}, long)).toMatchObject({ code: 'context-too-long', fallback: false });
    expect(openaiAdapter.failure(400, {}, error('maximum context length exceeded', 'x', null)).code).toBe(
      'context-too-long',
    );
    expect(openaiAdapter.failure(413, {}, 'Request Entity Too Large')).toMatchObject({
      code: 'context-too-long',
      message: 'Request Entity Too Large',
    });
    const invalid = openaiAdapter.failure(
      400,
      {},
      error("Invalid value for 'temperature'.", 'invalid_request_error', null),
    );
    expect(invalid).toEqual({
      code: 'model-request-invalid',
      providerStatus: 400,
      message: "Invalid value for 'temperature'.",
      retryAfter: undefined,
      fallback: false,
    });
    expect(openaiAdapter.failure(422, {}, '{}').code).toBe('model-request-invalid');
  });

  it('falls back to the body text, cut, for messages it cannot read', () => {
    expect(openaiAdapter.failure(500, {}, '<html>Bad Gateway</html>').message).toBe(
      '<html>Bad Gateway</html>',
    );
    expect(openaiAdapter.failure(500, {}, 'x'.repeat(5000)).message).toHaveLength(1000);
    expect(
      openaiAdapter.failure(404, {}, '{"error":"model \\"llama9\\" not found, try pulling it first"}')
        .message,
    ).toBe('model "llama9" not found, try pulling it first');
    expect(openaiAdapter.failure(500, {}, '{"error":{"message":7}}').message).toBe('{"error":{"message":7}}');
    expect(openaiAdapter.failure(502, {}, '').message).toMatch(/502/);
  });
});

describe('extra_content of OpenAI-compatible servers (Google’s thought signatures)', () => {
  const extra = { google: { thought_signature: 'c2lnbmF0dXJl' } };

  it('keeps a call’s extra_content in answers and streamed deltas, and sends it back as the client wrote it', () => {
    const { completion } = openaiAdapter.answer(
      {
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: 'c1',
                  type: 'function',
                  function: { name: 'f', arguments: '{}' },
                  extra_content: extra,
                },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
      },
      context,
    );
    expect(completion.choices[0]!.message.tool_calls![0]!.extra_content).toEqual(extra);
    const { chunks } = stream(
      `data: ${JSON.stringify({
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [
                { index: 0, id: 'c1', function: { name: 'f', arguments: '' }, extra_content: extra },
              ],
            },
          },
        ],
      })}\n\ndata: [DONE]\n\n`,
    );
    expect(chunks[0]!.choices[0]!.delta.tool_calls![0]!.extra_content).toEqual(extra);
    const sent = JSON.parse(
      openaiAdapter.request(
        {
          model: 'fast',
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', content: null, tool_calls: completion.choices[0]!.message.tool_calls! },
            { role: 'tool', tool_call_id: 'c1', content: 'ok' },
          ],
        },
        target,
        provider,
        false,
      ).body,
    ) as { messages: { tool_calls?: { extra_content?: unknown }[] }[] };
    expect(sent.messages[1]!.tool_calls![0]!.extra_content).toEqual(extra);
  });
});
