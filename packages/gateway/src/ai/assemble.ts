import type {
  AnswerContext,
  ChatChunk,
  ChatCompletion,
  ChatRequest,
  ExtraContent,
  FinishReason,
  ToolCall,
  TokenUsage,
} from './types.js';

/**
 * Builds the whole answer out of the chunks of a stream, for the call log and for stored
 * conversation turns: content concatenated, tool calls joined by index, the last finish reason.
 */
export class ChunkAssembler {
  #content = '';
  #hasContent = false;
  #finish: FinishReason | null = null;
  readonly #tools = new Map<number, { id: string; name: string; arguments: string; extra?: ExtraContent }>();

  add(chunk: ChatChunk): void {
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      const { content, tool_calls: calls } = choice.delta;
      if (typeof content === 'string') {
        this.#content += content;
        this.#hasContent = true;
      }
      for (const call of calls ?? []) {
        const known = this.#tools.get(call.index) ?? { id: '', name: '', arguments: '' };
        if (call.id) known.id = call.id;
        if (call.function?.name) known.name += call.function.name;
        if (call.function?.arguments) known.arguments += call.function.arguments;
        if (call.extra_content) known.extra = call.extra_content;
        this.#tools.set(call.index, known);
      }
      if (choice.finish_reason) this.#finish = choice.finish_reason;
    }
  }

  /** The text written so far (for estimates when the provider reports no usage). */
  get text(): string {
    let text = this.#content;
    for (const call of this.#tools.values()) text += call.name + call.arguments;
    return text;
  }

  completion(context: AnswerContext, usage: TokenUsage): ChatCompletion {
    const toolCalls: ToolCall[] = [...this.#tools.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, call]) => ({
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: call.arguments },
        ...(call.extra ? { extra_content: call.extra } : {}),
      }));
    return {
      id: context.id,
      object: 'chat.completion',
      created: context.created,
      model: context.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: this.#hasContent || toolCalls.length === 0 ? this.#content : null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          finish_reason: this.#finish,
        },
      ],
      usage: usageOf(usage),
    };
  }
}

/** Usage in OpenAI's names. */
export function usageOf(usage: TokenUsage): NonNullable<ChatCompletion['usage']> {
  return {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
  };
}

/**
 * Tokens estimated at about four characters each, for providers (some local servers) that report
 * no usage: the token limit and the cost table still see the call. Marked `estimated`.
 */
export function estimateUsage(request: ChatRequest, output: string): TokenUsage {
  let input = 0;
  for (const message of request.messages) {
    const content = message.content;
    if (typeof content === 'string') input += content.length;
    else if (Array.isArray(content)) {
      for (const part of content as ChatRequest['messages'][number]['content'] & unknown[]) {
        if (part && typeof part === 'object' && 'text' in part) input += String(part.text).length;
      }
    }
    for (const call of message.tool_calls ?? [])
      input += call.function.name.length + call.function.arguments.length;
    input += 4;
  }
  for (const tool of request.tools ?? []) input += JSON.stringify(tool).length;
  return { input: Math.ceil(input / 4), output: Math.ceil(output.length / 4), estimated: true };
}

/** A whole answer as the chunks a stream would have carried (for a provider that ignored `stream`). */
export function chunksOf(completion: ChatCompletion): ChatChunk[] {
  const choice = completion.choices[0];
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk' as const,
    created: completion.created,
    model: completion.model,
  };
  if (!choice) return [];
  const message = choice.message;
  return [
    {
      ...base,
      choices: [
        {
          index: 0,
          delta: {
            role: 'assistant',
            content: message.content,
            ...(message.tool_calls
              ? {
                  tool_calls: message.tool_calls.map((call, index) => ({
                    index,
                    id: call.id,
                    type: 'function' as const,
                    function: { name: call.function.name, arguments: call.function.arguments },
                    ...(call.extra_content ? { extra_content: call.extra_content } : {}),
                  })),
                }
              : {}),
          },
          finish_reason: null,
        },
      ],
    },
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: choice.finish_reason }] },
  ];
}
