/**
 * Anthropic's Messages stream (https://docs.anthropic.com/en/docs/build-with-claude/streaming) as
 * Chat Completions chunks: content blocks become content or tool call deltas, `message_delta`
 * the finish reason, and the usage it reports in pieces one usage chunk at the end.
 */
import type {
  AnswerContext,
  ChatChunk,
  ProviderFailure,
  SseEvent,
  StreamTranslator,
  TokenUsage,
} from '../types.js';
import { anthropicFailure, anthropicFinish } from './anthropic-common.js';
import { countOf, isObject, objectOf, parseJson, stringOf, usageOf } from './shape.js';

type Delta = ChatChunk['choices'][number]['delta'];

/** The HTTP status Anthropic documents for each error type, to map a stream's error like an answer's. */
const ERROR_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

/** A translator of one Anthropic stream. */
export function anthropicStreamer(context: AnswerContext): StreamTranslator {
  let input: number | undefined;
  let output: number | undefined;
  let failure: ProviderFailure | undefined;
  let roleSent = false;
  let usageSent = false;
  let stopped = false;
  let tools = 0;
  /** Content block index to tool call index: OpenAI numbers tool calls only. */
  const toolOf = new Map<number, number>();

  const chunk = (delta: Delta, finish: ChatChunk['choices'][number]['finish_reason'] = null): ChatChunk => {
    const first = !roleSent;
    roleSent = true;
    return {
      id: context.id,
      object: 'chat.completion.chunk',
      created: context.created,
      model: context.model,
      choices: [{ index: 0, delta: first ? { role: 'assistant', ...delta } : delta, finish_reason: finish }],
    };
  };
  const usage = (): TokenUsage | undefined =>
    input === undefined && output === undefined
      ? undefined
      : { input: input ?? 0, output: output ?? 0, estimated: false };
  const usageChunk = (): ChatChunk[] => {
    const counted = usage();
    if (usageSent || counted === undefined) return [];
    usageSent = true;
    return [
      {
        id: context.id,
        object: 'chat.completion.chunk',
        created: context.created,
        model: context.model,
        choices: [],
        usage: usageOf(counted),
      },
    ];
  };
  const count = (value: unknown): void => {
    const fields = objectOf(value);
    const fresh = countOf(fields['input_tokens']);
    if (fresh !== undefined) {
      input =
        fresh +
        (countOf(fields['cache_creation_input_tokens']) ?? 0) +
        (countOf(fields['cache_read_input_tokens']) ?? 0);
    }
    // Anthropic's counts are cumulative: the last one is the total.
    output = countOf(fields['output_tokens']) ?? output;
  };

  return {
    event(event: SseEvent): ChatChunk[] {
      if (stopped || failure !== undefined) return [];
      const data = parseJson(event.data);
      if (!isObject(data)) return [];
      const type = event.event ?? stringOf(data['type']);
      switch (type) {
        case 'message_start':
          count(objectOf(data['message'])['usage']);
          return [chunk({ content: '' })];
        case 'content_block_start': {
          const block = objectOf(data['content_block']);
          const index = countOf(data['index']) ?? 0;
          if (block['type'] === 'tool_use') {
            const tool = tools++;
            toolOf.set(index, tool);
            const call = {
              index: tool,
              id: stringOf(block['id']) ?? '',
              type: 'function' as const,
              function: { name: stringOf(block['name']) ?? '', arguments: '' },
            };
            return [chunk({ tool_calls: [call] })];
          }
          const text = block['type'] === 'text' ? stringOf(block['text']) : undefined;
          return text !== undefined && text !== '' ? [chunk({ content: text })] : [];
        }
        case 'content_block_delta': {
          const delta = objectOf(data['delta']);
          if (delta['type'] === 'text_delta') {
            const text = stringOf(delta['text']);
            return text !== undefined ? [chunk({ content: text })] : [];
          }
          const tool = toolOf.get(countOf(data['index']) ?? -1);
          const json = stringOf(delta['partial_json']);
          if (delta['type'] === 'input_json_delta' && tool !== undefined && json !== undefined) {
            return [chunk({ tool_calls: [{ index: tool, function: { arguments: json } }] })];
          }
          // Thinking and signature deltas have no place in Chat Completions.
          return [];
        }
        case 'message_delta': {
          count(data['usage']);
          const finish = anthropicFinish(objectOf(data['delta'])['stop_reason']);
          return finish !== null ? [chunk({}, finish)] : [];
        }
        case 'message_stop':
          stopped = true;
          return usageChunk();
        case 'error': {
          const error = objectOf(data['error']);
          const status = ERROR_STATUS[stringOf(error['type']) ?? ''] ?? 500;
          failure = anthropicFailure(status, {}, event.data);
          return [];
        }
        default:
          // ping, content_block_stop and event types added later.
          return [];
      }
    },
    end: () => (failure === undefined ? usageChunk() : []),
    usage,
    failure: () => failure,
  };
}
