/**
 * OpenAI-compatible providers (OpenAI, Azure-style proxies, Ollama, vLLM): the unified format is
 * theirs, so requests pass through with the model swapped and answers are re-labelled with the
 * gateway's id and the client's alias. What needs care is distrust: every field is guarded.
 */
import type {
  AnswerContext,
  ChatChunk,
  ChatCompletion,
  ChatRequest,
  ExtraContent,
  FinishReason,
  ModelTarget,
  ProviderAdapter,
  ProviderCall,
  ProviderConfig,
  ProviderFailure,
  SseEvent,
  StreamTranslator,
  TokenUsage,
  ToolCall,
  ToolCallDelta,
} from '../types.js';
import { parseDuration, parseMilliseconds, parseRetryAfter } from './retry-after.js';
import {
  FINISH_REASONS,
  arrayOf,
  bodyMessage,
  countOf,
  isObject,
  objectOf,
  parseJson,
  providerFailure,
  stringOf,
  usageOf,
} from './shape.js';

type Choice = ChatCompletion['choices'][number];
type ChunkChoice = ChatChunk['choices'][number];

/** The OpenAI Chat Completions adapter. */
export const openaiAdapter: ProviderAdapter = {
  kind: 'openai',
  request: openaiRequest,
  answer: openaiAnswer,
  streamer: openaiStreamer,
  failure: openaiFailure,
};

/** The provider call for a unified request: the client's body with the provider's model. */
export function openaiRequest(
  request: ChatRequest,
  target: ModelTarget,
  provider: ProviderConfig,
  stream: boolean,
): ProviderCall {
  const { stream: _stream, stream_options: _options, ...rest } = request;
  const body: Record<string, unknown> = { ...rest, model: target.model };
  if (
    request.max_tokens === undefined &&
    request.max_completion_tokens === undefined &&
    target.maxTokens !== undefined
  ) {
    body['max_tokens'] = target.maxTokens;
  }
  if (stream) {
    body['stream'] = true;
    // Forced whatever the client asked: without it the stream carries no usage to count and bill.
    body['stream_options'] = { include_usage: true };
  }
  const headers: Record<string, string> = { 'content-type': 'application/json', ...provider.headers };
  if (provider.key !== undefined && provider.key !== '') headers['authorization'] = `Bearer ${provider.key}`;
  return { path: '/chat/completions', headers, body: JSON.stringify(body) };
}

/** A whole OpenAI answer as the gateway's Chat Completion. */
export function openaiAnswer(
  body: unknown,
  context: AnswerContext,
): { completion: ChatCompletion; usage: TokenUsage | undefined } {
  if (!isObject(body)) throw new Error('the provider answered with something other than a JSON object');
  const choices = arrayOf(body['choices'])
    .filter(isObject)
    .map((choice, position): Choice => {
      const message = objectOf(choice['message']);
      const content = stringOf(message['content']) ?? null;
      const calls = arrayOf(message['tool_calls']).flatMap(toolCallOf);
      const refusal = stringOf(message['refusal']);
      return {
        index: countOf(choice['index']) ?? position,
        message: {
          role: 'assistant',
          content,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
          ...(refusal !== undefined ? { refusal } : {}),
        },
        finish_reason: finishOf(choice['finish_reason']),
      };
    });
  const usage = tokenUsageOf(body['usage']);
  const completion: ChatCompletion = {
    id: context.id,
    object: 'chat.completion',
    created: context.created,
    model: context.model,
    choices,
    ...(usage !== undefined ? { usage: usageOf(usage) } : {}),
  };
  return { completion, usage };
}

/** Translates an OpenAI stream: chunks are re-labelled, the usage chunk recorded, an error noticed. */
export function openaiStreamer(context: AnswerContext): StreamTranslator {
  let usage: TokenUsage | undefined;
  let failure: ProviderFailure | undefined;
  let done = false;
  return {
    event(event: SseEvent): ChatChunk[] {
      if (done || failure !== undefined) return [];
      if (event.data.trim() === '[DONE]') {
        done = true;
        return [];
      }
      const value = parseJson(event.data);
      // Not JSON: a keep-alive or a proxy's noise, not a chunk; the caller's timeouts catch a dead stream.
      if (!isObject(value)) return [];
      if (value['error'] !== undefined) {
        failure = streamFailure(value['error']);
        return [];
      }
      const choices = arrayOf(value['choices']).filter(isObject).map(chunkChoiceOf);
      const counted = tokenUsageOf(value['usage']);
      if (counted !== undefined) usage = counted;
      // Azure's first chunk carries only content filter results: nothing for the client.
      if (choices.length === 0 && counted === undefined) return [];
      return [
        {
          id: context.id,
          object: 'chat.completion.chunk',
          created: context.created,
          model: context.model,
          choices,
          ...(counted !== undefined ? { usage: usageOf(counted) } : {}),
        },
      ];
    },
    end: () => [],
    usage: () => usage,
    failure: () => failure,
  };
}

/** An OpenAI error answer mapped to the gateway's codes. */
export function openaiFailure(
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string,
): ProviderFailure {
  const parsed = parseJson(body);
  const error = isObject(parsed) ? parsed['error'] : undefined;
  // Ollama and some proxies send `{"error": "text"}` rather than OpenAI's object.
  const message =
    (isObject(error) ? stringOf(error['message']) : stringOf(error)) ?? bodyMessage(status, body);
  const code = isObject(error) ? stringOf(error['code']) : undefined;
  if (status === 429) return providerFailure('model-rate-limited', status, message, rateLimitRetry(headers));
  const retryAfter = parseRetryAfter(headers['retry-after']);
  if (status === 401 || status === 403 || status === 404) {
    return providerFailure('model-unavailable', status, message, retryAfter);
  }
  if (status >= 400 && status < 500) {
    const tooLong = status === 413 || isContextLength(code, message);
    return providerFailure(
      tooLong ? 'context-too-long' : 'model-request-invalid',
      status,
      message,
      undefined,
    );
  }
  return providerFailure('model-unavailable', status, message, retryAfter);
}

/** Seconds until OpenAI lets the key call again, from whichever header it sent. */
function rateLimitRetry(headers: Readonly<Record<string, string>>): number | undefined {
  const direct = parseRetryAfter(headers['retry-after']) ?? parseMilliseconds(headers['retry-after-ms']);
  if (direct !== undefined) return direct;
  // Wait for the limit that ran out; when the headers do not say which, for the later of the two.
  const requestsOut = headers['x-ratelimit-remaining-requests']?.trim() === '0';
  const tokensOut = headers['x-ratelimit-remaining-tokens']?.trim() === '0';
  const requests = parseDuration(headers['x-ratelimit-reset-requests']);
  const tokens = parseDuration(headers['x-ratelimit-reset-tokens']);
  const waits = requestsOut !== tokensOut ? [requestsOut ? requests : tokens] : [requests, tokens];
  const known = waits.filter((wait): wait is number => wait !== undefined);
  return known.length > 0 ? Math.max(...known) : undefined;
}

function isContextLength(code: string | undefined, message: string): boolean {
  return (
    code === 'context_length_exceeded' ||
    /maximum context length|context length|context window/i.test(message)
  );
}

/** An error sent inside a 200 stream: by its status when it has one (vLLM), else by its type. */
function streamFailure(error: unknown): ProviderFailure {
  const fields = objectOf(error);
  const message =
    stringOf(fields['message']) ?? stringOf(error) ?? 'the provider sent an error in its stream';
  const status = countOf(fields['code']);
  if (status !== undefined && status >= 400 && status < 600) {
    return openaiFailure(status, {}, JSON.stringify({ error: { message } }));
  }
  const code = stringOf(fields['code']);
  const type = stringOf(fields['type']);
  if (isContextLength(code, message)) return providerFailure('context-too-long', 200, message, undefined);
  if (type === 'rate_limit_exceeded' || code === 'rate_limit_exceeded') {
    return providerFailure('model-rate-limited', 200, message, undefined);
  }
  if (type === 'invalid_request_error')
    return providerFailure('model-request-invalid', 200, message, undefined);
  return providerFailure('model-unavailable', 200, message, undefined);
}

function finishOf(value: unknown): FinishReason | null {
  if (typeof value !== 'string') return null;
  if (FINISH_REASONS.has(value)) return value as FinishReason;
  // The deprecated functions API said `function_call`; other servers invent their own reasons.
  return value === 'function_call' ? 'tool_calls' : 'stop';
}

function tokenUsageOf(value: unknown): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  const input = countOf(value['prompt_tokens']);
  const output = countOf(value['completion_tokens']);
  if (input === undefined || output === undefined) return undefined;
  return { input, output, estimated: false };
}

function toolCallOf(value: unknown): ToolCall[] {
  if (!isObject(value)) return [];
  const fn = objectOf(value['function']);
  const name = stringOf(fn['name']);
  if (name === undefined) return [];
  return [
    {
      id: stringOf(value['id']) ?? '',
      type: 'function',
      function: { name, arguments: stringOf(fn['arguments']) ?? '' },
      ...extraOf(value),
    },
  ];
}

/** `extra_content` of a call from an OpenAI-compatible server (Google's carries thought signatures). */
function extraOf(call: Readonly<Record<string, unknown>>): Pick<ToolCall, 'extra_content'> {
  return isObject(call['extra_content']) ? { extra_content: call['extra_content'] as ExtraContent } : {};
}

function chunkChoiceOf(choice: Readonly<Record<string, unknown>>, position: number): ChunkChoice {
  const delta = objectOf(choice['delta']);
  const content = delta['content'];
  const calls = arrayOf(delta['tool_calls']).flatMap((call, at): ToolCallDelta[] => {
    if (!isObject(call)) return [];
    const fn = isObject(call['function']) ? call['function'] : undefined;
    const id = stringOf(call['id']);
    const name = fn === undefined ? undefined : stringOf(fn['name']);
    const args = fn === undefined ? undefined : stringOf(fn['arguments']);
    return [
      {
        index: countOf(call['index']) ?? at,
        ...(id !== undefined ? { id, type: 'function' as const } : {}),
        ...extraOf(call),
        ...(fn !== undefined
          ? {
              function: {
                ...(name !== undefined ? { name } : {}),
                ...(args !== undefined ? { arguments: args } : {}),
              },
            }
          : {}),
      },
    ];
  });
  return {
    index: countOf(choice['index']) ?? position,
    delta: {
      ...(delta['role'] === 'assistant' ? { role: 'assistant' as const } : {}),
      ...(typeof content === 'string' || content === null ? { content } : {}),
      ...(calls.length > 0 ? { tool_calls: calls } : {}),
    },
    finish_reason: finishOf(choice['finish_reason']),
  };
}
