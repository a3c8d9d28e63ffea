/**
 * Anthropic's Messages API (https://docs.anthropic.com/en/api/messages): system prompts move to a
 * top-level field, tool calls and results become content blocks, and answers come back as blocks
 * that are folded into one Chat Completions message. The stream is in anthropic-stream.ts.
 */
import type {
  AnswerContext,
  ChatCompletion,
  ChatMessage,
  ChatRequest,
  ContentPart,
  ModelTarget,
  ProviderAdapter,
  ProviderCall,
  ProviderConfig,
  TokenUsage,
  ToolCall,
  ToolChoice,
} from '../types.js';
import { anthropicFailure, anthropicFinish, anthropicUsage } from './anthropic-common.js';
import { anthropicStreamer } from './anthropic-stream.js';
import { arrayOf, isObject, parseJson, stringOf, usageOf } from './shape.js';

/** The version sent when the provider's configuration names none. */
export const ANTHROPIC_VERSION = '2023-06-01';

/** Anthropic requires `max_tokens`; this is used when neither the request nor the model sets one. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

type Block = Record<string, unknown>;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

export { anthropicFailure, anthropicFinish, anthropicUsage };

/** The Anthropic Messages adapter. */
export const anthropicAdapter: ProviderAdapter = {
  kind: 'anthropic',
  request: anthropicRequest,
  answer: anthropicAnswer,
  streamer: anthropicStreamer,
  failure: anthropicFailure,
};

/** The Messages API call for a unified request. */
export function anthropicRequest(
  request: ChatRequest,
  target: ModelTarget,
  provider: ProviderConfig,
  stream: boolean,
): ProviderCall {
  const system: string[] = [];
  const turns: Turn[] = [];
  for (const message of request.messages) {
    if (message.role === 'system' || message.role === 'developer') {
      const text = textOf(message.content);
      if (text !== '') system.push(text);
      continue;
    }
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const blocks = blocksOf(message);
    // Anthropic rejects empty content; an assistant turn with neither text nor calls says nothing.
    if (blocks.length === 0) continue;
    const last = turns.at(-1);
    // Roles must alternate: consecutive tool results (and a user message after them) are one turn.
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  }
  const body: Record<string, unknown> = {
    model: target.model,
    max_tokens:
      request.max_tokens ?? request.max_completion_tokens ?? target.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
    messages: turns,
  };
  // Structured outputs: a schema constrains the answer (`output_config.format`). Anthropic has no
  // mode for "any JSON object", so that one is asked for in the system prompt.
  const format = request.response_format;
  if (format?.type === 'json_schema') {
    body['output_config'] = {
      format: {
        type: 'json_schema',
        schema: structuredSchema(format.json_schema.schema ?? { type: 'object' }),
      },
    };
  } else if (format?.type === 'json_object') {
    system.push('Answer with one JSON object and nothing else.');
  }
  if (system.length > 0) body['system'] = system.join('\n\n');
  if (request.temperature !== undefined) body['temperature'] = request.temperature;
  if (request.top_p !== undefined) body['top_p'] = request.top_p;
  if (request.stop !== undefined)
    body['stop_sequences'] = typeof request.stop === 'string' ? [request.stop] : request.stop;
  if (request.tools !== undefined && request.tools.length > 0) {
    body['tools'] = request.tools.map((tool) => ({
      name: tool.function.name,
      ...(tool.function.description !== undefined ? { description: tool.function.description } : {}),
      // Anthropic requires a schema; a tool without parameters takes an empty object.
      input_schema: tool.function.parameters ?? { type: 'object', properties: {} },
    }));
  }
  const choice = toolChoiceOf(request.tool_choice, request.parallel_tool_calls);
  if (choice !== undefined) body['tool_choice'] = choice;
  if (request.user !== undefined) body['metadata'] = { user_id: request.user };
  if (stream) body['stream'] = true;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'anthropic-version': provider.version ?? ANTHROPIC_VERSION,
    ...provider.headers,
  };
  if (provider.key !== undefined && provider.key !== '') headers['x-api-key'] = provider.key;
  return { path: '/v1/messages', headers, body: JSON.stringify(body) };
}

/** A whole Messages answer as the gateway's Chat Completion. */
export function anthropicAnswer(
  body: unknown,
  context: AnswerContext,
): { completion: ChatCompletion; usage: TokenUsage | undefined } {
  if (!isObject(body)) throw new Error('the provider answered with something other than a JSON object');
  let text: string | null = null;
  const calls: ToolCall[] = [];
  for (const block of arrayOf(body['content'])) {
    if (!isObject(block)) continue;
    if (block['type'] === 'text') {
      text = (text ?? '') + (stringOf(block['text']) ?? '');
    } else if (block['type'] === 'tool_use') {
      calls.push({
        id: stringOf(block['id']) ?? '',
        type: 'function',
        function: { name: stringOf(block['name']) ?? '', arguments: JSON.stringify(block['input'] ?? {}) },
      });
    }
  }
  const usage = anthropicUsage(body['usage']);
  const completion: ChatCompletion = {
    id: context.id,
    object: 'chat.completion',
    created: context.created,
    model: context.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, ...(calls.length > 0 ? { tool_calls: calls } : {}) },
        finish_reason: anthropicFinish(body['stop_reason']),
      },
    ],
    ...(usage !== undefined ? { usage: usageOf(usage) } : {}),
  };
  return { completion, usage };
}

function textOf(content: ChatMessage['content']): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((part): part is Extract<ContentPart, { type: 'text' }> => part.type === 'text')
    .map((part) => part.text)
    .join('\n');
}

function partBlocks(content: ChatMessage['content']): Block[] {
  if (content === null) return [];
  // Anthropic rejects empty text blocks.
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return content.flatMap((part): Block[] => {
    if (part.type === 'text') return part.text === '' ? [] : [{ type: 'text', text: part.text }];
    return [{ type: 'image', source: imageSource(part.image_url.url) }];
  });
}

function imageSource(url: string): Block {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data !== null) return { type: 'base64', media_type: data[1], data: data[2] };
  return { type: 'url', url };
}

function blocksOf(message: ChatMessage): Block[] {
  if (message.role === 'tool') {
    const content =
      typeof message.content === 'string' || message.content === null
        ? (message.content ?? '')
        : partBlocks(message.content);
    return [{ type: 'tool_result', tool_use_id: message.tool_call_id ?? '', content }];
  }
  const blocks = partBlocks(message.content);
  if (message.role === 'assistant') {
    for (const call of message.tool_calls ?? []) {
      blocks.push({
        type: 'tool_use',
        id: call.id,
        name: call.function.name,
        input: argumentsOf(call.function.arguments),
      });
    }
  }
  return blocks;
}

/** A call's arguments as an object; models sometimes write invalid JSON, which Anthropic would refuse. */
function argumentsOf(text: string): Readonly<Record<string, unknown>> {
  const value = parseJson(text);
  return isObject(value) ? value : {};
}

function toolChoiceOf(choice: ToolChoice | undefined, parallel: boolean | undefined): Block | undefined {
  const single = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...single };
  if (typeof choice === 'object') return { type: 'tool', name: choice.function.name, ...single };
  if (choice === 'auto' || parallel === false) return { type: 'auto', ...single };
  return undefined;
}

/**
 * Keywords Anthropic's structured outputs do not constrain, and refuse: bounds on numbers, lengths
 * and counts. The schema sent leaves them out (as Anthropic's own SDKs do); the answer is still
 * checked against the whole schema where the gateway checks it (prompt outputs).
 */
const UNCONSTRAINED = new Set([
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
]);

/** Keywords that hold values, not schemas. */
const VALUES = new Set(['enum', 'const', 'default', 'examples']);

/** Keywords whose members are schemas under names (or patterns) of the user's, not keywords. */
const NAMED = new Set(['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions']);

/**
 * A JSON Schema as Anthropic's structured outputs take it: every object closed
 * (`additionalProperties: false`, which they require), `minItems` only as 0 or 1, and the
 * keywords of {@link UNCONSTRAINED} left out, at every depth. Property names and `$defs` entries
 * are names, not keywords, and are kept whatever they are called.
 */
export function structuredSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(structuredSchema);
  if (!isObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (UNCONSTRAINED.has(key)) continue;
    if (key === 'minItems') {
      if (typeof value === 'number' && value >= 1) out[key] = 1;
      continue;
    }
    if (NAMED.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, structuredSchema(sub)]),
      );
      continue;
    }
    out[key] = VALUES.has(key) ? value : structuredSchema(value);
  }
  const isObjectSchema =
    out['type'] === 'object' ||
    (Array.isArray(out['type']) && out['type'].includes('object')) ||
    'properties' in out;
  if (isObjectSchema) out['additionalProperties'] = false;
  return out;
}
