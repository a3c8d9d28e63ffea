/**
 * The Google Gemini adapter: Chat Completions to and from the Gemini API's `generateContent` and
 * `streamGenerateContent` (https://ai.google.dev/api/generate-content).
 */
import type {
  AnswerContext,
  ChatChunk,
  ChatCompletion,
  FinishReason,
  ProviderAdapter,
  ProviderFailure,
  SseEvent,
  StreamTranslator,
  TokenUsage,
  ToolCall,
} from '../types.js';
import { geminiBody, isRecord, type Json } from './gemini-parts.js';

/** What one Gemini response (whole, or one streamed event) says, read defensively. */
interface Reading {
  /** Null when the candidate had no text parts. */
  readonly text: string | null;
  readonly calls: readonly Call[];
  /** Gemini's own finish reason, or a block reason of the prompt. */
  readonly finishReason: string | undefined;
}

/** A function call read from a response part, with Gemini's signature of the thinking behind it. */
interface Call {
  readonly id: string;
  readonly name: string;
  readonly args: string;
  readonly signature: string | undefined;
}

const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'OTHER_BLOCK',
]);

/** Reads the first candidate. `callId` makes up ids: Gemini's calls usually have none. */
function read(response: Json, callId: () => string): Reading {
  const candidate = Array.isArray(response['candidates']) ? response['candidates'][0] : undefined;
  if (!isRecord(candidate)) {
    const feedback = response['promptFeedback'];
    const blocked = isRecord(feedback) ? feedback['blockReason'] : undefined;
    // A refused prompt has no candidates at all; report it as a filtered answer.
    return {
      text: null,
      calls: [],
      finishReason: typeof blocked === 'string' ? 'PROMPT_BLOCKED' : undefined,
    };
  }
  const content = candidate['content'];
  const parts = isRecord(content) && Array.isArray(content['parts']) ? content['parts'] : [];
  const texts: string[] = [];
  const calls: Call[] = [];
  for (const part of parts) {
    if (!isRecord(part)) continue;
    // Thought summaries are the model's reasoning, not its answer.
    if (typeof part['text'] === 'string' && part['thought'] !== true) texts.push(part['text']);
    const call = part['functionCall'];
    if (isRecord(call) && typeof call['name'] === 'string') {
      calls.push({
        id: typeof call['id'] === 'string' && call['id'] !== '' ? call['id'] : callId(),
        name: call['name'],
        args: JSON.stringify(isRecord(call['args']) ? call['args'] : {}),
        signature: typeof part['thoughtSignature'] === 'string' ? part['thoughtSignature'] : undefined,
      });
    }
  }
  const finishReason = candidate['finishReason'];
  return {
    text: texts.length > 0 ? texts.join('') : null,
    calls,
    finishReason: typeof finishReason === 'string' ? finishReason : undefined,
  };
}

/** Gemini's finish reason in OpenAI's words; `STOP` after function calls means the model wants them run. */
function finishOf(reason: string, calls: boolean): FinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  if (reason === 'PROMPT_BLOCKED' || FILTERED.has(reason)) return 'content_filter';
  return calls ? 'tool_calls' : 'stop';
}

/** Token counts of `usageMetadata`; thinking tokens are billed as output, so they count as output. */
function usageOf(response: Json): TokenUsage | undefined {
  const metadata = response['usageMetadata'];
  if (!isRecord(metadata)) return undefined;
  const count = (name: string): number | undefined => {
    const value = metadata[name];
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  };
  const input = count('promptTokenCount');
  const candidates = count('candidatesTokenCount');
  const thoughts = count('thoughtsTokenCount');
  if (input === undefined && candidates === undefined && thoughts === undefined) return undefined;
  return { input: input ?? 0, output: (candidates ?? 0) + (thoughts ?? 0), estimated: false };
}

function toolCalls(reading: Reading): ToolCall[] {
  return reading.calls.map(({ id, name, args, signature }) => ({
    id,
    type: 'function',
    function: { name, arguments: args },
    ...signed(signature),
  }));
}

/** A thought signature where Google's OpenAI-compatible API puts it: the call's `extra_content`. */
function signed(signature: string | undefined): Pick<ToolCall, 'extra_content'> {
  return signature === undefined ? {} : { extra_content: { google: { thought_signature: signature } } };
}

function counter(): () => string {
  let next = 0;
  return () => `call_${next++}`;
}

/** Seconds of a Retry-After header: delta-seconds or an HTTP date. */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.ceil(Number(value));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** Gemini's own hint: a `google.rpc.RetryInfo` detail with `retryDelay: "13s"` (or "0.5s"). */
function retryDelayOf(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const detail of details) {
    if (!isRecord(detail)) continue;
    const type = detail['@type'];
    const delay = detail['retryDelay'];
    if (typeof type !== 'string' || !type.endsWith('RetryInfo') || typeof delay !== 'string') continue;
    const seconds = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim())?.[1];
    if (seconds !== undefined) return Math.ceil(Number(seconds));
  }
  return undefined;
}

const TOO_LONG = /exceeds the maximum number of tokens|input token count/i;
const UNAVAILABLE = new Set(['UNAVAILABLE', 'INTERNAL', 'DEADLINE_EXCEEDED']);
const NOT_SERVED = new Set(['UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND']);

/**
 * Maps a Gemini error (`{error: {code, message, status, details}}`) to the gateway's codes. Errors
 * inside a stream have no HTTP status of their own: `status` is then their `code`, or null.
 */
function classify(
  status: number | null,
  error: Json | undefined,
  fallbackMessage: string,
  retryAfterHeader: string | undefined,
): ProviderFailure {
  const message = typeof error?.['message'] === 'string' ? error['message'] : fallbackMessage.slice(0, 1000);
  const name = typeof error?.['status'] === 'string' ? error['status'] : '';
  const base = { providerStatus: status, message, retryAfter: undefined };
  if (status === 413 || ((status === 400 || name === 'INVALID_ARGUMENT') && TOO_LONG.test(message))) {
    return { ...base, code: 'context-too-long', fallback: false };
  }
  if (status === 429 || name === 'RESOURCE_EXHAUSTED') {
    const retryAfter = parseRetryAfter(retryAfterHeader) ?? retryDelayOf(error?.['details']);
    return { ...base, code: 'model-rate-limited', retryAfter, fallback: true };
  }
  if ((status !== null && status >= 500) || UNAVAILABLE.has(name)) {
    return { ...base, code: 'model-unavailable', fallback: true };
  }
  // A bad key or an unknown model: another provider's model may still answer.
  if (status === 401 || status === 403 || status === 404 || NOT_SERVED.has(name)) {
    return { ...base, code: 'model-unavailable', fallback: true };
  }
  return { ...base, code: 'model-request-invalid', fallback: false };
}

/** The `error` member of a Gemini error body; some endpoints wrap the body in an array. */
function errorOf(parsed: unknown): Json | undefined {
  const body = Array.isArray(parsed) ? parsed[0] : parsed;
  return isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
}

function streamer(context: AnswerContext): StreamTranslator {
  const callId = counter();
  let roleSent = false;
  let toolIndex = 0;
  let finished = false;
  let usage: TokenUsage | undefined;
  let failure: ProviderFailure | undefined;
  const chunk = (delta: ChatChunk['choices'][number]['delta'], finish: FinishReason | null): ChatChunk => {
    const withRole = roleSent ? delta : { role: 'assistant' as const, ...delta };
    roleSent = true;
    return {
      id: context.id,
      object: 'chat.completion.chunk',
      created: context.created,
      model: context.model,
      choices: [{ index: 0, delta: withRole, finish_reason: finish }],
    };
  };
  return {
    event(event: SseEvent): ChatChunk[] {
      if (finished || failure !== undefined) return [];
      let parsed: unknown;
      try {
        parsed = JSON.parse(event.data);
      } catch {
        // Not a response (a keep-alive, a stray line): nothing to translate.
        return [];
      }
      if (!isRecord(parsed)) return [];
      const error = errorOf(parsed);
      if (error !== undefined) {
        const code = typeof error['code'] === 'number' ? error['code'] : null;
        failure = classify(code, error, event.data, undefined);
        return [];
      }
      // Each event repeats the counts so far: the last one is the whole stream's.
      usage = usageOf(parsed) ?? usage;
      const reading = read(parsed, callId);
      const chunks: ChatChunk[] = [];
      if (reading.text !== null && reading.text !== '') chunks.push(chunk({ content: reading.text }, null));
      if (reading.calls.length > 0) {
        const deltas = reading.calls.map(({ id, name, args, signature }) => ({
          index: toolIndex++,
          id,
          type: 'function' as const,
          function: { name, arguments: args },
          ...signed(signature),
        }));
        chunks.push(chunk({ tool_calls: deltas }, null));
      }
      if (reading.finishReason !== undefined) {
        finished = true;
        chunks.push(chunk({}, finishOf(reading.finishReason, toolIndex > 0)));
      }
      return chunks;
    },
    end(): ChatChunk[] {
      if (failure !== undefined) return [];
      // A stream that ends without a finish reason still owes the client one.
      const chunks = finished ? [] : [chunk({}, toolIndex > 0 ? 'tool_calls' : 'stop')];
      finished = true;
      if (usage !== undefined) {
        const { input, output } = usage;
        chunks.push({
          id: context.id,
          object: 'chat.completion.chunk',
          created: context.created,
          model: context.model,
          choices: [],
          usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
        });
      }
      return chunks;
    },
    usage: () => usage,
    failure: () => failure,
  };
}

/** The adapter of `kind: gemini` providers; `baseUrl` is e.g. `https://generativelanguage.googleapis.com/v1beta`. */
export const geminiAdapter: ProviderAdapter = {
  kind: 'gemini',

  request(request, target, provider, stream) {
    // Names copied from the models list carry a `models/` prefix; the path already has it.
    const model = encodeURIComponent(target.model.replace(/^models\//, ''));
    const path = stream
      ? `/models/${model}:streamGenerateContent?alt=sse`
      : `/models/${model}:generateContent`;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...provider.headers };
    // In a header, not the `key` query parameter: URLs end up in logs.
    if (provider.key !== undefined) headers['x-goog-api-key'] = provider.key;
    return { path, headers, body: JSON.stringify(geminiBody(request, target)) };
  },

  answer(body, context) {
    if (!isRecord(body)) throw new Error('Gemini answered with something other than a JSON object');
    const reading = read(body, counter());
    const calls = toolCalls(reading);
    const finish =
      reading.finishReason !== undefined
        ? finishOf(reading.finishReason, calls.length > 0)
        : calls.length > 0
          ? 'tool_calls'
          : 'stop';
    const message: ChatCompletion['choices'][number]['message'] =
      reading.finishReason === 'PROMPT_BLOCKED'
        ? { role: 'assistant', content: null, refusal: `The prompt was blocked (${blockReason(body)}).` }
        : calls.length > 0
          ? { role: 'assistant', content: reading.text, tool_calls: calls }
          : { role: 'assistant', content: reading.text };
    const usage = usageOf(body);
    const completion: ChatCompletion = {
      id: context.id,
      object: 'chat.completion',
      created: context.created,
      model: context.model,
      choices: [{ index: 0, message, finish_reason: finish }],
      ...(usage !== undefined && {
        usage: {
          prompt_tokens: usage.input,
          completion_tokens: usage.output,
          total_tokens: usage.input + usage.output,
        },
      }),
    };
    return { completion, usage };
  },

  streamer,

  failure(status, headers, body) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    return classify(status, errorOf(parsed), body, headers['retry-after']);
  },
};

function blockReason(body: Json): string {
  const feedback = body['promptFeedback'];
  const reason = isRecord(feedback) ? feedback['blockReason'] : undefined;
  return typeof reason === 'string' ? reason : 'unknown reason';
}
