/**
 * The unified format of the gateway's AI routes (docs/ai.md): OpenAI Chat Completions, which every
 * client library speaks, and the small interface each provider adapter implements to translate it
 * to and from its own wire format.
 */

/** A part of a message's content. Text is what every provider takes; images are passed where they can be. */
export type ContentPart =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'image_url'; readonly image_url: { readonly url: string; readonly detail?: string } };

/** A function call the model asks for. `arguments` is JSON text, as the model wrote it. */
export interface ToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
  /** What a provider needs back with the call on the next turn (see {@link ExtraContent}). */
  readonly extra_content?: ExtraContent;
}

/**
 * Provider data that rides along with a tool call, in the shape Google's OpenAI-compatible API uses:
 * Gemini's `thoughtSignature`, which Gemini 3 requires back with its function calls on the next
 * turn (a 400 otherwise). Clients keep it as they keep the call.
 */
export interface ExtraContent {
  readonly google?: { readonly thought_signature?: string };
}

/** One message of a chat. */
export interface ChatMessage {
  readonly role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  readonly content: string | readonly ContentPart[] | null;
  readonly name?: string;
  /** On assistant messages: the calls the model made. */
  readonly tool_calls?: readonly ToolCall[];
  /** On tool messages: the call this answers. */
  readonly tool_call_id?: string;
}

/** A tool the model may call. */
export interface ToolDefinition {
  readonly type: 'function';
  readonly function: {
    readonly name: string;
    readonly description?: string;
    /** A JSON Schema of the arguments. */
    readonly parameters?: Record<string, unknown>;
    readonly strict?: boolean;
  };
}

export type ToolChoice =
  'none' | 'auto' | 'required' | { readonly type: 'function'; readonly function: { readonly name: string } };

export type ResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | {
      readonly type: 'json_schema';
      readonly json_schema: {
        readonly name: string;
        readonly schema?: Record<string, unknown>;
        readonly strict?: boolean;
        readonly description?: string;
      };
    };

/** A Chat Completions request as clients send it; `model` is an alias of the route's `models`. */
export interface ChatRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly stream?: boolean;
  readonly stream_options?: { readonly include_usage?: boolean };
  readonly max_tokens?: number;
  readonly max_completion_tokens?: number;
  readonly temperature?: number;
  readonly top_p?: number;
  readonly stop?: string | readonly string[];
  readonly tools?: readonly ToolDefinition[];
  readonly tool_choice?: ToolChoice;
  readonly parallel_tool_calls?: boolean;
  readonly response_format?: ResponseFormat;
  readonly seed?: number;
  readonly presence_penalty?: number;
  readonly frequency_penalty?: number;
  readonly user?: string;
  /** Only 1 is supported: several choices would multiply the cost behind the client's back. */
  readonly n?: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** Token counts in OpenAI's names. */
export interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

/** A whole answer (`stream` false). */
export interface ChatCompletion {
  readonly id: string;
  readonly object: 'chat.completion';
  /** Unix seconds. */
  readonly created: number;
  /** The alias the client named. */
  readonly model: string;
  readonly choices: readonly {
    readonly index: number;
    readonly message: {
      readonly role: 'assistant';
      readonly content: string | null;
      readonly tool_calls?: readonly ToolCall[];
      /** Set when the provider refused for safety reasons and said why. */
      readonly refusal?: string | null;
    };
    readonly finish_reason: FinishReason | null;
  }[];
  readonly usage?: Usage;
}

/** One piece of a streamed tool call: the first carries `id` and the name, later ones more arguments. */
export interface ToolCallDelta {
  readonly index: number;
  readonly id?: string;
  readonly type?: 'function';
  readonly function?: { readonly name?: string; readonly arguments?: string };
  readonly extra_content?: ExtraContent;
}

/** One `data:` event of a streamed answer. */
export interface ChatChunk {
  readonly id: string;
  readonly object: 'chat.completion.chunk';
  readonly created: number;
  readonly model: string;
  readonly choices: readonly {
    readonly index: number;
    readonly delta: {
      readonly role?: 'assistant';
      readonly content?: string | null;
      readonly tool_calls?: readonly ToolCallDelta[];
    };
    readonly finish_reason: FinishReason | null;
  }[];
  /** Only on the last chunk, with `choices: []`, when the client asked with `stream_options.include_usage`. */
  readonly usage?: Usage | null;
}

/** Tokens of one model call, as the provider counted them or, failing that, as estimated. */
export interface TokenUsage {
  readonly input: number;
  readonly output: number;
  /** True when the provider reported no usage and the counts are estimates (about 4 characters a token). */
  readonly estimated: boolean;
}

/** The kinds of provider the gateway speaks to. */
export type ProviderKind = 'openai' | 'anthropic' | 'gemini';

/** One provider of an AI route (resolved configuration). */
export interface ProviderConfig {
  readonly name: string;
  readonly kind: ProviderKind;
  /** Without a trailing slash: `https://api.openai.com/v1`, `https://api.anthropic.com`, `https://generativelanguage.googleapis.com/v1beta`. */
  readonly baseUrl: string;
  /** The provider's API key; never sent to clients, never logged. Optional for local servers. */
  readonly key: string | undefined;
  /** Extra headers sent to the provider (an organisation, a project). */
  readonly headers: Readonly<Record<string, string>>;
  /** Anthropic's `anthropic-version`; ignored by the others. */
  readonly version: string | undefined;
  readonly timeouts: {
    readonly connectMs: number;
    /** Until the status line and headers, and then between two streamed chunks. */
    readonly responseMs: number;
  };
}

/** One provider model an alias may use, in fallback order. */
export interface ModelTarget {
  readonly provider: string;
  readonly model: string;
  /** Used when the request sets no `max_tokens` (Anthropic needs one). */
  readonly maxTokens: number | undefined;
}

/** Prices per million tokens. */
export interface Price {
  readonly input: number;
  readonly output: number;
}

/** Where prompts and conversations live: collections of a Truce server upstream. */
export interface AiStateConfig {
  readonly upstream: string;
  /** Collection paths on that upstream, without slashes: `prompts`, `conversations`. */
  readonly prompts: string;
  readonly conversations: string;
  /** A turn left `pending` longer than this (its gateway died) is given up. */
  readonly turnTimeoutMs: number;
}

/** The `ai` block of a route. */
export interface AiConfig {
  readonly providers: ReadonlyMap<string, ProviderConfig>;
  /** Alias to provider models, in fallback order. */
  readonly models: ReadonlyMap<string, readonly ModelTarget[]>;
  /** Keyed `provider/model`. */
  readonly prices: ReadonlyMap<string, Price>;
  /** Per consumer (or client address on routes without keys); undefined for none. */
  readonly tokensPerMinute: number | undefined;
  /** Bytes of a chat request body the route reads (default 1mb). */
  readonly maxRequestBytes: number;
  readonly state: AiStateConfig | undefined;
}

/** The call to make to a provider: appended to its `baseUrl`. */
export interface ProviderCall {
  /** Path and query after the base URL, starting with `/`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** JSON text. */
  readonly body: string;
}

/** One Server-Sent Event as parsed from a provider's stream. */
export interface SseEvent {
  readonly event: string | undefined;
  readonly data: string;
  readonly id: string | undefined;
}

/** Ids and names a translated answer carries. */
export interface AnswerContext {
  /** `chatcmpl-…`, made by the gateway. */
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  /** The alias the client named; answers say this, not the provider's model. */
  readonly model: string;
}

/** Turns a provider's stream into Chat Completions chunks. */
export interface StreamTranslator {
  /** The chunks one provider event becomes (often one, sometimes none). */
  event(event: SseEvent): ChatChunk[];
  /** The provider's stream ended: any chunk still owed (a final finish_reason). */
  end(): ChatChunk[];
  /** The usage the stream reported, once it did; undefined when it never did. */
  usage(): TokenUsage | undefined;
  /**
   * A provider error sent inside the stream (Anthropic's `event: error`, an OpenAI `data` with an
   * `error` member), once one came.
   */
  failure(): ProviderFailure | undefined;
}

/** A provider's error answer, mapped to the gateway's codes. */
export interface ProviderFailure {
  readonly code: 'model-rate-limited' | 'model-unavailable' | 'model-request-invalid' | 'context-too-long';
  /** The provider's status, null for a connection error or timeout. */
  readonly providerStatus: number | null;
  /** The provider's own message, verbatim. */
  readonly message: string;
  /** Seconds, from the provider's Retry-After (or its own rate-limit reset headers). */
  readonly retryAfter: number | undefined;
  /** The next model of the alias may be tried (429, 5xx, timeouts, a bad key, an unknown model). */
  readonly fallback: boolean;
}

/** What each provider kind implements. Pure functions: no I/O. */
export interface ProviderAdapter {
  readonly kind: ProviderKind;
  /** The provider request for a unified one, with `target.model` in place of the alias. */
  request(request: ChatRequest, target: ModelTarget, provider: ProviderConfig, stream: boolean): ProviderCall;
  /** A whole provider answer (parsed JSON) as a Chat Completion, with its usage. */
  answer(
    body: unknown,
    context: AnswerContext,
  ): { completion: ChatCompletion; usage: TokenUsage | undefined };
  streamer(context: AnswerContext): StreamTranslator;
  /** A provider's non-2xx answer. `headers` have lower-case names. */
  failure(status: number, headers: Readonly<Record<string, string>>, body: string): ProviderFailure;
}
