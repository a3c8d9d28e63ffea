import { describe, expect, it } from 'vitest';
import type { AnswerContext, ChatRequest, ModelTarget, ProviderConfig } from '../types.js';
import { anthropicAdapter } from './anthropic.js';

/** The Anthropic adapter against payloads shaped like the Messages API reference's. */
const provider: ProviderConfig = {
  name: 'anthropic',
  kind: 'anthropic',
  baseUrl: 'https://api.anthropic.com',
  key: 'sk-ant-test',
  headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' },
  version: undefined,
  timeouts: { connectMs: 5000, responseMs: 60000 },
};
const target: ModelTarget = {
  provider: 'anthropic',
  model: 'claude-sonnet-4-20250514',
  maxTokens: undefined,
};
const context: AnswerContext = { id: 'chatcmpl-gw2', created: 1733300000, model: 'smart' };

function bodyOf(request: ChatRequest, stream = false, to: ModelTarget = target): Record<string, unknown> {
  return JSON.parse(anthropicAdapter.request(request, to, provider, stream).body) as Record<string, unknown>;
}

describe('anthropic request', () => {
  it('sends the key, the version and a required max_tokens', () => {
    const call = anthropicAdapter.request(
      { model: 'smart', messages: [{ role: 'user', content: 'Hi' }] },
      target,
      provider,
      false,
    );
    expect(call.path).toBe('/v1/messages');
    expect(call.headers).toEqual({
      'content-type': 'application/json',
      'x-api-key': 'sk-ant-test',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'prompt-caching-2024-07-31',
    });
    expect(JSON.parse(call.body)).toEqual({
      model: 'claude-sonnet-4-20250514',
      max_tokens: 4096,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    });
    const versioned = anthropicAdapter.request(
      { model: 'smart', messages: [] },
      target,
      { ...provider, version: '2024-01-01', key: undefined, headers: {} },
      true,
    );
    expect(versioned.headers).toEqual({
      'content-type': 'application/json',
      'anthropic-version': '2024-01-01',
    });
    expect(JSON.parse(versioned.body).stream).toBe(true);
  });

  it('takes max_tokens from the request, then max_completion_tokens, then the model', () => {
    const messages = [{ role: 'user', content: 'x' }] as const;
    expect(bodyOf({ model: 's', messages, max_tokens: 10, max_completion_tokens: 20 }).max_tokens).toBe(10);
    expect(bodyOf({ model: 's', messages, max_completion_tokens: 20 }).max_tokens).toBe(20);
    expect(bodyOf({ model: 's', messages }, false, { ...target, maxTokens: 300 }).max_tokens).toBe(300);
  });

  it('translates system prompts, options, tools and images', () => {
    const body = bodyOf({
      model: 'smart',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
        { role: 'user', content: 'Be quick.' },
      ],
      temperature: 0.5,
      top_p: 0.9,
      stop: 'END',
      user: 'u-1',
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
        { type: 'function', function: { name: 'now' } },
      ],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    expect(body).toEqual({
      model: 'claude-sonnet-4-20250514',
      max_tokens: 4096,
      system: 'You are terse.\n\nAnswer in French.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            { type: 'text', text: 'Be quick.' },
          ],
        },
      ],
      temperature: 0.5,
      top_p: 0.9,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
      tools: [
        {
          name: 'get_weather',
          description: 'Weather',
          input_schema: { type: 'object', properties: { city: { type: 'string' } } },
        },
        { name: 'now', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
  });

  it('asks for JSON: a schema as output_config.format, any object in the system prompt', () => {
    const base: ChatRequest = {
      model: 's',
      messages: [
        { role: 'system', content: 'Extract.' },
        { role: 'user', content: 'x' },
      ],
    };
    const schema = { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false };
    const structured = bodyOf({
      ...base,
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema, strict: true } },
    });
    expect(structured.output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(structured.system).toBe('Extract.');
    const object = bodyOf({ ...base, response_format: { type: 'json_object' } });
    expect(object).not.toHaveProperty('output_config');
    expect(object.system).toBe('Extract.\n\nAnswer with one JSON object and nothing else.');
    expect(bodyOf({ ...base, response_format: { type: 'text' } })).not.toHaveProperty('output_config');
  });

  it('sends a schema Anthropic’s structured outputs take: objects closed, unsupported bounds left out', () => {
    const schema = {
      type: 'object',
      required: ['title', 'tags'],
      properties: {
        title: { type: 'string', minLength: 3, maxLength: 80, description: 'A title' },
        score: { type: 'integer', minimum: 0, maximum: 10 },
        tags: { type: 'array', minItems: 2, maxItems: 5, items: { type: 'string', enum: ['a', 'b'] } },
        minimum: { type: 'number', exclusiveMinimum: 0 },
        author: { $ref: '#/$defs/person' },
      },
      additionalProperties: true,
      $defs: { person: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } },
    };
    const sent = bodyOf({
      model: 's',
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema } },
    }).output_config as { format: { schema: unknown } };
    expect(sent.format.schema).toEqual({
      type: 'object',
      required: ['title', 'tags'],
      properties: {
        title: { type: 'string', description: 'A title' },
        score: { type: 'integer' },
        tags: { type: 'array', minItems: 1, items: { type: 'string', enum: ['a', 'b'] } },
        minimum: { type: 'number' },
        author: { $ref: '#/$defs/person' },
      },
      additionalProperties: false,
      $defs: {
        person: {
          type: 'object',
          properties: { name: { type: 'string' } },
          required: ['name'],
          additionalProperties: false,
        },
      },
    });
  });

  it('maps each tool_choice', () => {
    const base: ChatRequest = { model: 's', messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b'] };
    expect(bodyOf(base)).not.toHaveProperty('tool_choice');
    expect(bodyOf(base).stop_sequences).toEqual(['a', 'b']);
    expect(bodyOf({ ...base, tool_choice: 'auto' }).tool_choice).toEqual({ type: 'auto' });
    expect(bodyOf({ ...base, tool_choice: 'none' }).tool_choice).toEqual({ type: 'none' });
    expect(bodyOf({ ...base, parallel_tool_calls: false }).tool_choice).toEqual({
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    expect(
      bodyOf({ ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } }).tool_choice,
    ).toEqual({
      type: 'tool',
      name: 'get_weather',
    });
  });

  it('turns tool calls and results into blocks, merging consecutive results and roles', () => {
    const body = bodyOf({
      model: 'smart',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [
            {
              id: 'toolu_01',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'toolu_02',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city": Rome' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_01', content: '21 °C' },
        { role: 'tool', tool_call_id: 'toolu_02', content: [{ type: 'text', text: '25 °C' }] },
        { role: 'user', content: 'Thanks. And tomorrow?' },
        { role: 'assistant', content: '' },
        { role: 'assistant', content: 'No forecast.' },
        { role: 'assistant', content: 'Sorry.' },
      ],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_02', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01', content: '21 °C' },
          { type: 'tool_result', tool_use_id: 'toolu_02', content: [{ type: 'text', text: '25 °C' }] },
          { type: 'text', text: 'Thanks. And tomorrow?' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'No forecast.' },
          { type: 'text', text: 'Sorry.' },
        ],
      },
    ]);
  });
});

describe('anthropic answer', () => {
  it('folds text and tool_use blocks into one message, with usage including cached input', () => {
    const body = {
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-20250514',
      content: [
        { type: 'text', text: 'Let me check ' },
        { type: 'text', text: 'the weather.' },
        {
          type: 'tool_use',
          id: 'toolu_01A09q90qw90lq917835lq9',
          name: 'get_weather',
          input: { location: 'San Francisco, CA' },
        },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 2095,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 5,
        output_tokens: 503,
      },
    };
    expect(anthropicAdapter.answer(body, context)).toEqual({
      completion: {
        id: 'chatcmpl-gw2',
        object: 'chat.completion',
        created: 1733300000,
        model: 'smart',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'Let me check the weather.',
              tool_calls: [
                {
                  id: 'toolu_01A09q90qw90lq917835lq9',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA"}' },
                },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 2200, completion_tokens: 503, total_tokens: 2703 },
      },
      usage: { input: 2200, output: 503, estimated: false },
    });
  });

  it('maps each stop reason', () => {
    const finish = (stop_reason: unknown) =>
      anthropicAdapter.answer({ content: [{ type: 'text', text: 'x' }], stop_reason }, context).completion
        .choices[0]?.finish_reason;
    expect(finish('end_turn')).toBe('stop');
    expect(finish('stop_sequence')).toBe('stop');
    expect(finish('max_tokens')).toBe('length');
    expect(finish('tool_use')).toBe('tool_calls');
    expect(finish('refusal')).toBe('content_filter');
    expect(finish(null)).toBeNull();
    expect(finish(7)).toBeNull();
  });

  it('survives malformed bodies and rejects non-objects with a clear error', () => {
    const { completion, usage } = anthropicAdapter.answer(
      {
        content: [
          null,
          1,
          { type: 'text', text: 5 },
          { type: 'tool_use', input: undefined },
          { type: 'thinking', thinking: 'hm' },
        ],
        usage: { input_tokens: 'x' },
      },
      context,
    );
    expect(completion.choices[0]?.message).toEqual({
      role: 'assistant',
      content: '',
      tool_calls: [{ id: '', type: 'function', function: { name: '', arguments: '{}' } }],
    });
    expect(usage).toBeUndefined();
    expect(completion).not.toHaveProperty('usage');
    expect(
      anthropicAdapter.answer({ content: 'no' }, context).completion.choices[0]?.message.content,
    ).toBeNull();
    for (const bad of [null, 'text', [], 3]) {
      expect(() => anthropicAdapter.answer(bad, context)).toThrow(/other than a JSON object/);
    }
  });
});

describe('anthropic failure', () => {
  const error = (type: string, message: string) =>
    JSON.stringify({ type: 'error', error: { type, message } });

  it('maps 429 with retry-after or the rate-limit reset times', () => {
    expect(
      anthropicAdapter.failure(
        429,
        { 'retry-after': '12' },
        error('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'),
      ),
    ).toEqual({
      code: 'model-rate-limited',
      providerStatus: 429,
      message: 'Number of request tokens has exceeded your per-minute rate limit',
      retryAfter: 12,
      fallback: true,
    });
    const soon = new Date(Date.now() + 20_000).toISOString();
    const later = new Date(Date.now() + 50_000).toISOString();
    const headers = {
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': soon,
      'anthropic-ratelimit-tokens-remaining': '500',
      'anthropic-ratelimit-tokens-reset': later,
    };
    const wait = anthropicAdapter.failure(429, headers, '').retryAfter ?? 0;
    expect(wait).toBeGreaterThanOrEqual(19);
    expect(wait).toBeLessThanOrEqual(21);
    const unknown = { 'anthropic-ratelimit-requests-reset': soon, 'anthropic-ratelimit-tokens-reset': later };
    expect(anthropicAdapter.failure(429, unknown, '').retryAfter).toBeGreaterThanOrEqual(49);
    expect(anthropicAdapter.failure(429, {}, '').retryAfter).toBeUndefined();
  });

  it('lets the next model try on 529, 5xx, a bad key and an unknown model', () => {
    for (const [status, type] of [
      [529, 'overloaded_error'],
      [500, 'api_error'],
      [503, 'api_error'],
      [401, 'authentication_error'],
      [403, 'permission_error'],
      [404, 'not_found_error'],
    ] as const) {
      expect(anthropicAdapter.failure(status, {}, error(type, 'm'))).toMatchObject({
        code: 'model-unavailable',
        providerStatus: status,
        fallback: true,
        message: 'm',
      });
    }
  });

  it('tells a prompt too long from another invalid request', () => {
    expect(
      anthropicAdapter.failure(
        400,
        {},
        error('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'),
      ),
    ).toMatchObject({
      code: 'context-too-long',
      fallback: false,
    });
    expect(
      anthropicAdapter.failure(
        413,
        {},
        error('request_too_large', 'Request exceeds the maximum allowed number of bytes.'),
      ).code,
    ).toBe('context-too-long');
    expect(
      anthropicAdapter.failure(400, {}, error('invalid_request_error', 'messages: roles must alternate')),
    ).toEqual({
      code: 'model-request-invalid',
      providerStatus: 400,
      message: 'messages: roles must alternate',
      retryAfter: undefined,
      fallback: false,
    });
  });

  it('falls back to the body text for messages it cannot read', () => {
    expect(anthropicAdapter.failure(502, {}, '<html>bad gateway</html>').message).toBe(
      '<html>bad gateway</html>',
    );
    expect(anthropicAdapter.failure(500, {}, '{"error":"x"}').message).toBe('{"error":"x"}');
    expect(anthropicAdapter.failure(400, {}, 'y'.repeat(2000)).message).toHaveLength(1000);
  });
});
