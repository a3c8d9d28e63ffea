import { Agent, type Dispatcher } from 'undici';
import { gatewayProblem, type GatewayProblem } from '../problems/answer.js';
import { ChunkAssembler, chunksOf, estimateUsage } from './assemble.js';
import { adapterOf } from './providers/index.js';
import { SseParser } from './sse.js';
import type {
  AiConfig,
  AnswerContext,
  ChatChunk,
  ChatCompletion,
  ChatRequest,
  ModelTarget,
  ProviderConfig,
  ProviderFailure,
  TokenUsage,
} from './types.js';

/** A provider's error body is read this far: enough for its message, never a flood. */
const ERROR_BODY_LIMIT = 64 * 1024;
/** A whole (unstreamed) answer larger than this is refused as a broken provider. */
const ANSWER_LIMIT = 16 * 1024 * 1024;

/** One model call of an AI route. */
export interface ModelCall {
  readonly alias: string;
  /** The unified request; its `model` is ignored in favour of each target's. */
  readonly request: ChatRequest;
  readonly stream: boolean;
  readonly context: AnswerContext;
  /** Aborted when the client goes away: the provider call is cut too. */
  readonly signal: AbortSignal;
  /**
   * Streamed chunks, in order. The first call commits the call to this provider: from then on no
   * other model is tried, since the client has already seen part of an answer.
   */
  readonly onChunk?: (chunk: ChatChunk) => void;
}

/** One provider model tried, for the problem's `attempts`. */
export interface Attempt {
  readonly provider: string;
  readonly model: string;
  readonly status: number | null;
  readonly code: string;
}

/** A finished model call. */
export interface ModelAnswer {
  readonly completion: ChatCompletion;
  readonly usage: TokenUsage;
  readonly provider: string;
  readonly model: string;
  readonly attempts: number;
}

/**
 * A model call that failed: the problem to answer, and what was tried (for the call log). When
 * `streamed` is true the client already has part of an answer, so the problem can only be told
 * inside the stream.
 */
export class ModelCallFailed extends Error {
  constructor(
    readonly problem: GatewayProblem,
    readonly attempts: readonly Attempt[],
    readonly streamed: boolean,
    readonly usage: TokenUsage | undefined,
  ) {
    super(problem.detail);
  }
}

/**
 * Calls the provider models of an alias in order (docs/ai.md, "Aliases and fallback"): on a 429, a
 * 5xx, a timeout or a connection error the next one is tried, as long as no byte of an answer has
 * reached the client; a request the provider calls invalid is not tried elsewhere, since another
 * model would refuse it too.
 */
export class ModelInvoker {
  readonly #agents = new Map<string, Agent>();

  constructor(readonly config: AiConfig) {
    for (const provider of config.providers.values()) {
      this.#agents.set(
        provider.name,
        new Agent({
          connect: { timeout: provider.timeouts.connectMs },
          headersTimeout: provider.timeouts.responseMs,
          bodyTimeout: provider.timeouts.responseMs,
          keepAliveTimeout: 30_000,
        }),
      );
    }
  }

  /** The aliases clients may name. */
  get aliases(): string[] {
    return [...this.config.models.keys()];
  }

  async invoke(call: ModelCall): Promise<ModelAnswer> {
    const targets = this.config.models.get(call.alias);
    if (!targets) {
      throw new ModelCallFailed(
        gatewayProblem('model-request-invalid', `No model alias "${call.alias}" on this route.`, {
          alias: call.alias,
          attempts: [],
          errors: [{ pointer: '/model', message: `must be one of ${this.aliases.join(', ')}` }],
        }),
        [],
        false,
        undefined,
      );
    }
    const attempts: Attempt[] = [];
    let last: { failure: ProviderFailure; target: ModelTarget } | undefined;
    for (const target of targets) {
      const provider = this.config.providers.get(target.provider)!;
      const outcome = await this.#try(call, target, provider);
      if ('completion' in outcome) return { ...outcome, attempts: attempts.length + 1 };
      outcome.failure = withoutSecrets(outcome.failure, provider);
      attempts.push({
        provider: target.provider,
        model: target.model,
        status: outcome.failure.providerStatus,
        code: outcome.failure.code,
      });
      last = { failure: outcome.failure, target };
      if (outcome.streamed || !outcome.failure.fallback || call.signal.aborted) {
        throw failed(call.alias, last, attempts, outcome.streamed, outcome.usage);
      }
    }
    throw failed(call.alias, last!, attempts, false, undefined);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((agent) => agent.close()));
  }

  async #try(
    call: ModelCall,
    target: ModelTarget,
    provider: ProviderConfig,
  ): Promise<
    | Omit<ModelAnswer, 'attempts'>
    | { failure: ProviderFailure; streamed: boolean; usage: TokenUsage | undefined }
  > {
    const adapter = adapterOf(provider.kind);
    const request = adapter.request(call.request, target, provider, call.stream);
    const url = new URL(provider.baseUrl + request.path);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#agents.get(provider.name)!.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers: request.headers,
        body: request.body,
        signal: call.signal,
      });
    } catch (error) {
      return { failure: networkFailure(error), streamed: false, usage: undefined };
    }
    const headers = lowerHeaders(response.headers);
    const named = { provider: provider.name, model: target.model };
    try {
      if (response.statusCode < 200 || response.statusCode > 299) {
        const text = await readText(response.body, ERROR_BODY_LIMIT, true);
        return {
          failure: adapter.failure(response.statusCode, headers, text),
          streamed: false,
          usage: undefined,
        };
      }
      const type = headers['content-type'] ?? '';
      if (!call.stream || !type.includes('text/event-stream')) {
        const text = await readText(response.body, ANSWER_LIMIT, false);
        const { completion, usage } = adapter.answer(JSON.parse(text), call.context);
        const counted = usage ?? estimateUsage(call.request, completion.choices[0]?.message.content ?? '');
        // A provider that ignored `stream` still gives the client a stream.
        if (call.stream) for (const chunk of chunksOf(completion)) call.onChunk?.(chunk);
        return { completion, usage: counted, ...named };
      }
      return await this.#stream(call, adapter.streamer(call.context), response, named);
    } catch (error) {
      if (error instanceof StreamFailed)
        return { failure: error.failure, streamed: error.streamed, usage: error.usage };
      response.body.destroy();
      return { failure: networkFailure(error), streamed: false, usage: undefined };
    }
  }

  async #stream(
    call: ModelCall,
    translator: ReturnType<ReturnType<typeof adapterOf>['streamer']>,
    response: Dispatcher.ResponseData,
    named: { provider: string; model: string },
  ): Promise<Omit<ModelAnswer, 'attempts'>> {
    const parser = new SseParser();
    const assembler = new ChunkAssembler();
    let streamed = false;
    const emit = (chunks: ChatChunk[]): void => {
      for (const chunk of chunks) {
        assembler.add(chunk);
        streamed = true;
        call.onChunk?.(chunk);
      }
    };
    const check = (): void => {
      const failure = translator.failure();
      if (failure) throw new StreamFailed(failure, streamed, translator.usage());
    };
    try {
      // A UTF-8 character may be split across two reads: the decoder keeps the pieces until whole.
      const decoder = new TextDecoder('utf-8');
      for await (const bytes of response.body as AsyncIterable<Buffer>) {
        for (const event of parser.push(decoder.decode(bytes, { stream: true }))) {
          emit(translator.event(event));
          check();
        }
      }
      for (const event of parser.push(decoder.decode())) emit(translator.event(event));
      for (const event of parser.end()) emit(translator.event(event));
      emit(translator.end());
      check();
    } catch (error) {
      if (error instanceof StreamFailed) throw error;
      response.body.destroy();
      throw new StreamFailed(networkFailure(error), streamed, translator.usage());
    }
    const usage = translator.usage() ?? estimateUsage(call.request, assembler.text);
    return { completion: assembler.completion(call.context, usage), usage, ...named };
  }
}

/**
 * A provider's message as clients may see it. Refusals of the key (401, 403) are told in the
 * gateway's words, since providers quote part of the key in them; anywhere else the key is cut out.
 */
function withoutSecrets(failure: ProviderFailure, provider: ProviderConfig): ProviderFailure {
  if (failure.providerStatus === 401 || failure.providerStatus === 403) {
    return {
      ...failure,
      message: `the provider refused the gateway's credentials for ${provider.name} (${failure.providerStatus}); an operator should check its key`,
    };
  }
  const secrets = [provider.key, ...Object.values(provider.headers)].filter(
    (s): s is string => !!s && s.length >= 8,
  );
  let message = failure.message;
  for (const secret of secrets) message = message.split(secret).join('[redacted]');
  return message === failure.message ? failure : { ...failure, message };
}

class StreamFailed extends Error {
  constructor(
    readonly failure: ProviderFailure,
    readonly streamed: boolean,
    readonly usage: TokenUsage | undefined,
  ) {
    super(failure.message);
  }
}

/** A connection error, timeout or garbled answer: the next model may do better. */
function networkFailure(error: unknown): ProviderFailure {
  const code = (error as { code?: string } | null)?.code ?? '';
  const timeout = /TIMEOUT/.test(code);
  return {
    code: 'model-unavailable',
    providerStatus: null,
    message: timeout
      ? `the provider did not answer in time (${code})`
      : `the provider could not be reached or sent a malformed answer (${code || (error as Error)?.message || 'error'})`,
    retryAfter: undefined,
    fallback: true,
  };
}

function failed(
  alias: string,
  last: { failure: ProviderFailure; target: ModelTarget },
  attempts: readonly Attempt[],
  streamed: boolean,
  usage: TokenUsage | undefined,
): ModelCallFailed {
  const { failure, target } = last;
  const members = {
    alias,
    provider: target.provider,
    model: target.model,
    providerStatus: failure.providerStatus,
    providerMessage: failure.message,
    attempts: [...attempts],
  };
  const tried =
    attempts.length === 1 ? `${target.provider}/${target.model}` : `${attempts.length} provider models`;
  const retryAfter = failure.retryAfter ?? (failure.code === 'model-unavailable' ? 5 : undefined);
  const headers: Record<string, string> =
    retryAfter === undefined ? {} : { 'retry-after': String(Math.ceil(retryAfter)) };
  let problem: GatewayProblem;
  switch (failure.code) {
    case 'model-rate-limited':
      problem = gatewayProblem(
        'model-rate-limited',
        `Alias ${alias}: ${tried} refused for rate limits; the last said: ${failure.message}`,
        { ...members, retryAfter: retryAfter ?? null },
        headers,
      );
      break;
    case 'model-unavailable':
      problem = gatewayProblem(
        'model-unavailable',
        `Alias ${alias}: ${tried} failed; the last said: ${failure.message}`,
        { ...members, retryAfter: retryAfter ?? null },
        headers,
      );
      break;
    case 'context-too-long':
      problem = gatewayProblem(
        'context-too-long',
        `Alias ${alias}: ${target.provider}/${target.model} says the messages do not fit: ${failure.message}`,
        members,
      );
      break;
    default:
      problem = gatewayProblem(
        'model-request-invalid',
        `Alias ${alias}: ${target.provider}/${target.model} refused the request: ${failure.message}`,
        { ...members, errors: [] },
      );
  }
  return new ModelCallFailed(problem, attempts, streamed, usage);
}

function lowerHeaders(headers: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Reads a body as UTF-8 up to `limit` bytes: cut there when `cut`, else refused. */
async function readText(body: Dispatcher.ResponseData['body'], limit: number, cut: boolean): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      if (cut) break;
      throw new Error(`the provider's answer is larger than ${limit} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts)
    .toString('utf8')
    .slice(0, cut ? limit : undefined);
}
