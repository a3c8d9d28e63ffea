import { describe, expect, it } from 'vitest';
import type { ChatChunk, ChatRequest, ModelTarget, ProviderConfig, SseEvent, ToolChoice } from '../types.js';
import { ChunkAssembler } from '../assemble.js';
import { FOREIGN_SIGNATURE } from './gemini-parts.js';
import { geminiAdapter } from './gemini.js';

/** The Gemini adapter: Chat Completions to Gemini's REST shapes and back, streams, and error mapping. */
const provider: ProviderConfig = {
  name: 'google',
  kind: 'gemini',
  baseUrl: 'https://generativelanguage.googleapis.com/v1beta',
  key: 'AIza-secret',
  headers: { 'x-goog-user-project': 'proj-1' },
  version: undefined,
  timeouts: { connectMs: 5000, responseMs: 60000 },
};
const target: ModelTarget = { provider: 'google', model: 'gemini-2.5-flash', maxTokens: 2048 };
const context = { id: 'chatcmpl-1', created: 1_700_000_000, model: 'smart' };

function body(request: ChatRequest, stream = false, on: ModelTarget = target): Record<string, unknown> {
  return JSON.parse(geminiAdapter.request(request, on, provider, stream).body) as Record<string, unknown>;
}

const sse = (data: unknown): SseEvent => ({
  event: undefined,
  data: typeof data === 'string' ? data : JSON.stringify(data),
  id: undefined,
});

describe('request', () => {
  it('posts to generateContent with the key in a header, or streams with alt=sse', () => {
    const request: ChatRequest = { model: 'smart', messages: [{ role: 'user', content: 'Hi' }] };
    const call = geminiAdapter.request(request, target, provider, false);
    expect(call.path).toBe('/models/gemini-2.5-flash:generateContent');
    expect(call.headers).toEqual({
      'content-type': 'application/json',
      'x-goog-user-project': 'proj-1',
      'x-goog-api-key': 'AIza-secret',
    });
    expect(call.path).not.toContain('secret');
    const streamed = geminiAdapter.request(request, target, provider, true);
    expect(streamed.path).toBe('/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    const odd = geminiAdapter.request(request, { ...target, model: 'models/my model?' }, provider, false);
    expect(odd.path).toBe('/models/my%20model%3F:generateContent');
    const keyless = geminiAdapter.request(request, target, { ...provider, key: undefined }, false);
    expect(keyless.headers).not.toHaveProperty('x-goog-api-key');
  });

  it('translates a conversation with system text, images and generation settings', () => {
    const request: ChatRequest = {
      model: 'smart',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.test/cat.JPG?size=big' } },
            { type: 'image_url', image_url: { url: 'gs://bucket/object' } },
          ],
        },
        { role: 'user', content: 'Quickly.' },
        { role: 'assistant', content: 'Un chat.' },
        { role: 'user', content: 'Merci' },
      ],
      temperature: 0.2,
      top_p: 0.9,
      max_completion_tokens: 300,
      stop: 'END',
      seed: 7,
      presence_penalty: 0.1,
      frequency_penalty: 0.3,
      response_format: { type: 'json_object' },
    };
    expect(body(request)).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] },
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'What is in these?' },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
            { fileData: { fileUri: 'https://example.test/cat.JPG?size=big', mimeType: 'image/jpeg' } },
            { fileData: { fileUri: 'gs://bucket/object' } },
            { text: 'Quickly.' },
          ],
        },
        { role: 'model', parts: [{ text: 'Un chat.' }] },
        { role: 'user', parts: [{ text: 'Merci' }] },
      ],
      generationConfig: {
        temperature: 0.2,
        topP: 0.9,
        maxOutputTokens: 300,
        stopSequences: ['END'],
        seed: 7,
        presencePenalty: 0.1,
        frequencyPenalty: 0.3,
        responseMimeType: 'application/json',
      },
    });
  });

  it('takes max_tokens first and the target default last; candidateCount only when n is given', () => {
    const messages = [{ role: 'user' as const, content: 'x' }];
    expect(body({ model: 'smart', messages, max_tokens: 10, max_completion_tokens: 20 })).toMatchObject({
      generationConfig: { maxOutputTokens: 10 },
    });
    const defaults = body({ model: 'smart', messages });
    expect(defaults['generationConfig']).toEqual({ maxOutputTokens: 2048 });
    expect(body({ model: 'smart', messages, n: 1 })['generationConfig']).toEqual({
      maxOutputTokens: 2048,
      candidateCount: 1,
    });
    const plain = geminiAdapter.request(
      { model: 'smart', messages },
      { ...target, maxTokens: undefined },
      provider,
      false,
    );
    expect(JSON.parse(plain.body)).toEqual({ contents: [{ role: 'user', parts: [{ text: 'x' }] }] });
  });

  it('decodes percent-encoded data URLs to base64', () => {
    const request: ChatRequest = {
      model: 'smart',
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:text/plain,h%C3%A9' } }] },
      ],
    };
    expect(body(request)['contents']).toEqual([
      {
        role: 'user',
        parts: [{ inlineData: { mimeType: 'text/plain', data: Buffer.from('hé').toString('base64') } }],
      },
    ]);
  });

  it('passes a JSON schema as responseJsonSchema', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const request: ChatRequest = {
      model: 'smart',
      messages: [{ role: 'user', content: 'Where?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema, strict: true } },
    };
    expect(body(request)['generationConfig']).toEqual({
      maxOutputTokens: 2048,
      responseMimeType: 'application/json',
      responseJsonSchema: schema,
    });
  });

  it('translates tools, tool choices, calls and their results', () => {
    const parameters = {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    };
    const request: ChatRequest = {
      model: 'smart',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome, and the time?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":' } },
            { id: 'call_c', type: 'function', function: { name: 'clock', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: '{"temp":21}' },
        { role: 'tool', tool_call_id: 'call_b', content: 'sunny' },
        { role: 'tool', tool_call_id: 'call_c', content: [{ type: 'text', text: '[1, 2]' }] },
      ],
      tools: [
        { type: 'function', function: { name: 'weather', description: 'Current weather', parameters } },
        { type: 'function', function: { name: 'clock' } },
      ],
      tool_choice: 'required',
    };
    const translated = body(request);
    expect(translated['contents']).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome, and the time?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'weather', args: { city: 'Paris' } } },
          { functionCall: { name: 'weather', args: {} } },
          { functionCall: { name: 'clock', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'weather', response: { temp: 21 } } },
          { functionResponse: { name: 'weather', response: { result: 'sunny' } } },
          { functionResponse: { name: 'clock', response: { result: [1, 2] } } },
        ],
      },
    ]);
    expect(translated['tools']).toEqual([
      {
        functionDeclarations: [
          { name: 'weather', description: 'Current weather', parametersJsonSchema: parameters },
          { name: 'clock' },
        ],
      },
    ]);
    expect(translated['toolConfig']).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    const choice = (tool_choice: ToolChoice): unknown => body({ ...request, tool_choice })['toolConfig'];
    expect(choice('none')).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(choice('auto')).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(choice({ type: 'function', function: { name: 'clock' } })).toEqual({
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['clock'] },
    });
  });
});

describe('answer', () => {
  it('translates text, its finish reason and usage with thinking tokens', () => {
    const { completion, usage } = geminiAdapter.answer(
      {
        candidates: [
          {
            content: {
              role: 'model',
              parts: [{ text: 'Thinking about cats', thought: true }, { text: 'Bonjour' }, { text: ' !' }],
            },
            finishReason: 'STOP',
            index: 0,
          },
        ],
        usageMetadata: {
          promptTokenCount: 12,
          candidatesTokenCount: 3,
          thoughtsTokenCount: 40,
          totalTokenCount: 55,
        },
        modelVersion: 'gemini-2.5-flash',
      },
      context,
    );
    expect(completion).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'smart',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Bonjour !' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 43, total_tokens: 55 },
    });
    expect(usage).toEqual({ input: 12, output: 43, estimated: false });
  });

  it('translates function calls, with made-up ids unless Gemini gave one', () => {
    const { completion } = geminiAdapter.answer(
      {
        candidates: [
          {
            content: {
              role: 'model',
              parts: [
                { functionCall: { name: 'weather', args: { city: 'Paris' } } },
                { functionCall: { name: 'weather', args: { city: 'Rome' }, id: 'fc-9' } },
                { functionCall: { name: 'clock' } },
                { functionCall: { args: {} } },
              ],
            },
            finishReason: 'STOP',
          },
        ],
      },
      context,
    );
    expect(completion.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_0', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'fc-9', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
          { id: 'call_1', type: 'function', function: { name: 'clock', arguments: '{}' } },
        ],
      },
      finish_reason: 'tool_calls',
    });
    expect(completion.usage).toBeUndefined();
  });

  it.each([
    ['MAX_TOKENS', 'length'],
    ['SAFETY', 'content_filter'],
    ['RECITATION', 'content_filter'],
    ['BLOCKLIST', 'content_filter'],
    ['PROHIBITED_CONTENT', 'content_filter'],
    ['SPII', 'content_filter'],
    ['OTHER', 'stop'],
  ])('maps finishReason %s to %s', (finishReason, expected) => {
    const { completion } = geminiAdapter.answer(
      { candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason }] },
      context,
    );
    expect(completion.choices[0]?.finish_reason).toBe(expected);
  });

  it('reports a blocked prompt as filtered with no content', () => {
    const { completion, usage } = geminiAdapter.answer(
      {
        promptFeedback: { blockReason: 'SAFETY' },
        usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 },
      },
      context,
    );
    expect(completion.choices[0]?.finish_reason).toBe('content_filter');
    expect(completion.choices[0]?.message.content).toBeNull();
    expect(completion.choices[0]?.message.refusal).toContain('SAFETY');
    expect(usage).toEqual({ input: 8, output: 0, estimated: false });
  });

  it('survives odd shapes and refuses a body that is not an object', () => {
    for (const odd of [
      {},
      { candidates: 'x' },
      { candidates: [null] },
      { candidates: [{ content: { parts: [1, null] } }] },
    ]) {
      const { completion, usage } = geminiAdapter.answer(odd, context);
      expect(completion.choices[0]?.message.content).toBeNull();
      expect(usage).toBeUndefined();
    }
    const { usage } = geminiAdapter.answer({ usageMetadata: { promptTokenCount: 'many' } }, context);
    expect(usage).toBeUndefined();
    for (const bad of [null, 'text', [1], 3]) {
      expect(() => geminiAdapter.answer(bad, context)).toThrow(
        /Gemini answered with something other than a JSON object/,
      );
    }
  });
});

describe('streamer', () => {
  const deltas = (chunks: ChatChunk[]) =>
    chunks.map((c) => [c.choices[0]?.delta, c.choices[0]?.finish_reason]);

  it('streams text deltas, a finish reason and the last usage seen', () => {
    const stream = geminiAdapter.streamer(context);
    const chunks = [
      ...stream.event(
        sse({
          candidates: [{ content: { role: 'model', parts: [{ text: 'Bon' }] } }],
          usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 1 },
        }),
      ),
      ...stream.event(
        sse({
          candidates: [{ content: { role: 'model', parts: [{ text: 'jour' }] } }],
          usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 2 },
        }),
      ),
      ...stream.event(
        sse({
          candidates: [{ content: { role: 'model', parts: [{ text: '!' }] }, finishReason: 'STOP' }],
          usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 3, thoughtsTokenCount: 5 },
        }),
      ),
    ];
    expect(deltas(chunks)).toEqual([
      [{ role: 'assistant', content: 'Bon' }, null],
      [{ content: 'jour' }, null],
      [{ content: '!' }, null],
      [{}, 'stop'],
    ]);
    expect(chunks[0]).toMatchObject({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'smart',
    });
    expect(stream.usage()).toEqual({ input: 9, output: 8, estimated: false });
    expect(stream.end()).toEqual([
      {
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        created: 1_700_000_000,
        model: 'smart',
        choices: [],
        usage: { prompt_tokens: 9, completion_tokens: 8, total_tokens: 17 },
      },
    ]);
    expect(stream.failure()).toBeUndefined();
  });

  it('streams function calls whole, indexed across the stream, and finishes with tool_calls', () => {
    const stream = geminiAdapter.streamer(context);
    const chunks = [
      ...stream.event(sse({ candidates: [{ content: { parts: [{ text: 'Let me check.' }] } }] })),
      ...stream.event(
        sse({
          candidates: [
            { content: { parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } } }] } },
          ],
        }),
      ),
      ...stream.event(
        sse({
          candidates: [
            {
              content: {
                parts: [
                  { functionCall: { name: 'weather', args: { city: 'Rome' } } },
                  { functionCall: { name: 'clock', args: {} } },
                ],
              },
              finishReason: 'STOP',
            },
          ],
        }),
      ),
    ];
    expect(deltas(chunks)).toEqual([
      [{ role: 'assistant', content: 'Let me check.' }, null],
      [
        {
          tool_calls: [
            {
              index: 0,
              id: 'call_0',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        null,
      ],
      [
        {
          tool_calls: [
            {
              index: 1,
              id: 'call_1',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Rome"}' },
            },
            { index: 2, id: 'call_2', type: 'function', function: { name: 'clock', arguments: '{}' } },
          ],
        },
        null,
      ],
      [{}, 'tool_calls'],
    ]);
    // No usage reported: no usage chunk, and nothing else owed.
    expect(stream.end()).toEqual([]);
    expect(stream.usage()).toBeUndefined();
  });

  it('owes a finish reason when the stream ends without one, and ignores what is not a response', () => {
    const stream = geminiAdapter.streamer(context);
    expect(stream.event(sse('not json'))).toEqual([]);
    expect(stream.event(sse('[1]'))).toEqual([]);
    expect(deltas(stream.event(sse({ candidates: [{ content: { parts: [{ text: 'Hi' }] } }] })))).toEqual([
      [{ role: 'assistant', content: 'Hi' }, null],
    ]);
    expect(deltas(stream.end())).toEqual([[{}, 'stop']]);
  });

  it('finishes a blocked prompt as filtered', () => {
    const stream = geminiAdapter.streamer(context);
    expect(deltas(stream.event(sse({ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' } })))).toEqual([
      [{ role: 'assistant' }, 'content_filter'],
    ]);
    expect(stream.end()).toEqual([]);
  });

  it('maps maximum tokens mid-stream to length', () => {
    const stream = geminiAdapter.streamer(context);
    const chunks = stream.event(
      sse({ candidates: [{ content: { parts: [{ text: 'a' }] }, finishReason: 'MAX_TOKENS' }] }),
    );
    expect(deltas(chunks)).toEqual([
      [{ role: 'assistant', content: 'a' }, null],
      [{}, 'length'],
    ]);
  });

  it('reports an error sent inside the stream', () => {
    const stream = geminiAdapter.streamer(context);
    stream.event(sse({ candidates: [{ content: { parts: [{ text: 'a' }] } }] }));
    const error = {
      error: {
        code: 503,
        message: 'The model is overloaded. Please try again later.',
        status: 'UNAVAILABLE',
      },
    };
    expect(stream.event(sse(error))).toEqual([]);
    expect(stream.failure()).toEqual({
      code: 'model-unavailable',
      providerStatus: 503,
      message: 'The model is overloaded. Please try again later.',
      retryAfter: undefined,
      fallback: true,
    });
    expect(stream.event(sse({ candidates: [{ content: { parts: [{ text: 'b' }] } }] }))).toEqual([]);
    expect(stream.end()).toEqual([]);
  });
});

describe('failure', () => {
  const error = (code: number, status: string, message: string, details?: unknown[]): string =>
    JSON.stringify({ error: { code, message, status, ...(details && { details }) } });

  it('maps 429 RESOURCE_EXHAUSTED to a rate limit, with the delay of RetryInfo or of Retry-After', () => {
    const body = error(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota.', [
      { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [] },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '13s' },
    ]);
    expect(geminiAdapter.failure(429, {}, body)).toEqual({
      code: 'model-rate-limited',
      providerStatus: 429,
      message: 'You exceeded your current quota.',
      retryAfter: 13,
      fallback: true,
    });
    expect(geminiAdapter.failure(429, { 'retry-after': '30' }, body).retryAfter).toBe(30);
    const fractional = error(429, 'RESOURCE_EXHAUSTED', 'Slow down', [
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '0.4s' },
    ]);
    expect(geminiAdapter.failure(429, {}, fractional).retryAfter).toBe(1);
    expect(geminiAdapter.failure(429, {}, error(429, 'RESOURCE_EXHAUSTED', 'x')).retryAfter).toBeUndefined();
    const date = new Date(Date.now() + 60_000).toUTCString();
    const fromDate = geminiAdapter.failure(429, { 'retry-after': date }, '').retryAfter;
    expect(fromDate).toBeGreaterThanOrEqual(58);
    expect(fromDate).toBeLessThanOrEqual(60);
  });

  it.each([
    [500, 'INTERNAL', 'An internal error has occurred.'],
    [503, 'UNAVAILABLE', 'The model is overloaded.'],
    [504, 'DEADLINE_EXCEEDED', 'Deadline exceeded.'],
    [401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'],
    [403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers."],
    [404, 'NOT_FOUND', 'models/gemini-9 is not found for API version v1beta.'],
  ])('maps %i %s to an unavailable model to fall back from', (status, name, message) => {
    expect(geminiAdapter.failure(status, {}, error(status, name, message))).toEqual({
      code: 'model-unavailable',
      providerStatus: status,
      message,
      retryAfter: undefined,
      fallback: true,
    });
  });

  it('maps a prompt over the token limit to context-too-long', () => {
    const message = 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).';
    expect(geminiAdapter.failure(400, {}, error(400, 'INVALID_ARGUMENT', message))).toEqual({
      code: 'context-too-long',
      providerStatus: 400,
      message,
      retryAfter: undefined,
      fallback: false,
    });
    expect(geminiAdapter.failure(413, {}, 'Request Entity Too Large').code).toBe('context-too-long');
  });

  it('maps other 4xx to an invalid request without fallback, and keeps odd bodies readable', () => {
    const message =
      'Invalid JSON payload received. Unknown name "foo" at \'generation_config\': Cannot find field.';
    expect(geminiAdapter.failure(400, {}, error(400, 'INVALID_ARGUMENT', message))).toEqual({
      code: 'model-request-invalid',
      providerStatus: 400,
      message,
      retryAfter: undefined,
      fallback: false,
    });
    // The streaming endpoint without alt=sse wraps its error in an array.
    const wrapped = JSON.stringify([{ error: { code: 400, message: 'Bad', status: 'INVALID_ARGUMENT' } }]);
    expect(geminiAdapter.failure(400, {}, wrapped).message).toBe('Bad');
    const html = `<html>${'x'.repeat(2000)}</html>`;
    const odd = geminiAdapter.failure(502, {}, html);
    expect(odd).toMatchObject({ code: 'model-unavailable', fallback: true });
    expect(odd.message).toBe(html.slice(0, 1000));
    expect(geminiAdapter.failure(422, {}, JSON.stringify({ error: 'nope' }))).toMatchObject({
      code: 'model-request-invalid',
      message: '{"error":"nope"}',
    });
  });
});

describe('thought signatures (Gemini 3)', () => {
  const signature = 'CrICAdHtim8-opaque/signature+bytes==';
  const calling = {
    candidates: [
      {
        content: {
          role: 'model',
          parts: [
            { functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: signature },
            { functionCall: { name: 'clock', args: {} } },
          ],
        },
        finishReason: 'STOP',
      },
    ],
  };

  it('hands a call its signature in extra_content, whole and streamed, as Google’s OpenAI API does', () => {
    const { completion } = geminiAdapter.answer(calling, context);
    const calls = completion.choices[0]!.message.tool_calls!;
    expect(calls[0]!.extra_content).toEqual({ google: { thought_signature: signature } });
    expect(calls[1]).not.toHaveProperty('extra_content');

    const stream = geminiAdapter.streamer(context);
    const chunks = stream.event(sse(calling));
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(deltas.map((d) => d.extra_content)).toEqual([
      { google: { thought_signature: signature } },
      undefined,
    ]);
    // Joined into the stored answer (call log, conversation turns) with the signature kept.
    const assembler = new ChunkAssembler();
    for (const chunk of chunks) assembler.add(chunk);
    const whole = assembler.completion(context, { input: 1, output: 1, estimated: false });
    expect(whole.choices[0]!.message.tool_calls![0]!.extra_content).toEqual({
      google: { thought_signature: signature },
    });
  });

  it('sends the signature back on the function call part it came with', () => {
    const { completion } = geminiAdapter.answer(calling, context);
    const request: ChatRequest = {
      model: 'smart',
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        { role: 'assistant', content: null, tool_calls: completion.choices[0]!.message.tool_calls! },
        { role: 'tool', tool_call_id: 'call_0', content: '{"temp": 18}' },
        { role: 'tool', tool_call_id: 'call_1', content: '{"time": "10:00"}' },
      ],
    };
    const contents = body(request)['contents'] as { role: string; parts: Record<string, unknown>[] }[];
    expect(contents[1]).toEqual({
      role: 'model',
      parts: [
        { functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: signature },
        { functionCall: { name: 'clock', args: {} } },
      ],
    });
  });

  it('gives Gemini 3 the placeholder for a step of calls no Gemini signed (after a fallback), not Gemini 2', () => {
    // Another model's parallel calls, then a step Gemini made itself (first call signed only).
    const { completion } = geminiAdapter.answer(calling, context);
    const request: ChatRequest = {
      model: 'smart',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'a1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'a2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'a1', content: '{"temp": 18}' },
        { role: 'tool', tool_call_id: 'a2', content: '{"temp": 24}' },
        { role: 'assistant', content: null, tool_calls: completion.choices[0]!.message.tool_calls! },
        { role: 'tool', tool_call_id: 'call_0', content: '{"temp": 18}' },
        { role: 'tool', tool_call_id: 'call_1', content: '{"time": "10:00"}' },
      ],
    };
    const modelParts = (on: ModelTarget) =>
      (body(request, false, on)['contents'] as { role: string; parts: Record<string, unknown>[] }[])
        .filter((c) => c.role === 'model')
        .map((c) => c.parts.map((p) => p['thoughtSignature']));
    for (const model of ['gemini-3-pro-preview', 'gemini-3.1-flash', 'models/gemini-3-flash-preview'])
      expect(modelParts({ ...target, model })).toEqual([
        [FOREIGN_SIGNATURE, undefined],
        [signature, undefined],
      ]);
    for (const model of ['gemini-2.5-flash', 'gemini-1.5-pro', 'my-tuned-model'])
      expect(modelParts({ ...target, model })).toEqual([
        [undefined, undefined],
        [signature, undefined],
      ]);
  });
});
