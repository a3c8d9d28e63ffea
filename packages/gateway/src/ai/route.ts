import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteConfig } from '../config/types.js';
import type { AiCallInfo, RawBody } from '../calls/record.js';
import { gatewayProblem, problemText, GatewayProblem } from '../problems/answer.js';
import { usageOf } from './assemble.js';
import { ModelCallFailed, type ModelInvoker } from './invoke.js';
import { checkChatRequest } from './request.js';
import { SSE_DONE, sseData } from './sse.js';
import type { TokenBudget } from './tokens.js';
import type { TruceState } from './state.js';
import { handleConversations } from './conversations.js';
import { handlePrompt } from './prompts.js';
import type { AiConfig, ChatChunk, ChatCompletion, TokenUsage } from './types.js';

/** What an AI route needs from the proxy around it. */
export interface AiExchange {
  readonly route: RouteConfig & { readonly ai: AiConfig };
  readonly invoker: ModelInvoker;
  readonly budget: TokenBudget;
  /** The route's path after its prefix. */
  readonly path: string;
  readonly method: string;
  /** Who the token budget counts for: `c:<consumer id>` or `ip:<address>`. */
  readonly subject: string;
  /** Headers every answer of the call carries (request id, RateLimit…); token fields are added here. */
  readonly answerHeaders: Record<string, string | string[]>;
  readonly started: number;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Where prompts and conversations are kept, when the route has `ai.state`. */
  readonly state: TruceState | undefined;
  /** The consumer's name, sent as the actor of state writes. */
  readonly actor: string | null;
}

/** How an AI call ended, for its call record. */
export interface AiOutcome {
  readonly status: number;
  readonly code: string | null;
  readonly responseBytes: number;
  readonly requestBytes: number;
  readonly requestBody: RawBody | null;
  readonly responseBody: RawBody | null;
  readonly ai: AiCallInfo | null;
  readonly upstreamMs: number | null;
  readonly target: string | null;
}

/**
 * Answers a request to an AI route (docs/ai.md): `GET /models` lists the aliases, `POST
 * /chat/completions` (also under `/v1`) runs a chat through the alias's provider models.
 */
export async function handleAi(x: AiExchange): Promise<AiOutcome> {
  const path = x.path.replace(/^\/v1(?=\/)/, '');
  if (path === '/models') {
    if (x.method !== 'GET' && x.method !== 'HEAD') throw notAllowed(x, 'GET, HEAD');
    const body = JSON.stringify({
      object: 'list',
      data: x.invoker.aliases.map((id) => ({ id, object: 'model', created: 0, owned_by: x.route.name })),
    });
    return sendJson(x, 200, body, null, null);
  }
  if (path === '/chat/completions') {
    if (x.method !== 'POST') throw notAllowed(x, 'POST');
    return chat(x);
  }
  const segments = path.split('/').slice(1);
  if (segments[0] === 'prompts' && segments.length === 2 && segments[1] !== '' && x.state) {
    let name: string;
    try {
      name = decodeURIComponent(segments[1]!);
    } catch {
      throw gatewayProblem('not-found', `No prompt ${segments[1]!}.`);
    }
    return handlePrompt(x, x.state, name);
  }
  if (segments[0] === 'conversations' && x.state) {
    const rest = segments.slice(1);
    if (rest.at(-1) === '') rest.pop();
    return handleConversations(x, x.state, rest);
  }
  throw gatewayProblem('no-route', `AI route ${x.route.name} has no ${x.method} ${x.path}.`);
}

async function chat(x: AiExchange): Promise<AiOutcome> {
  const ai = x.route.ai;
  const text = await readBody(x.req, ai.maxRequestBytes, x.route);
  const requestBody: RawBody = { data: text, truncated: false, contentType: 'application/json' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString('utf8'));
  } catch (error) {
    throw gatewayProblem('malformed-request', 'The body is not JSON.', {
      errors: [{ pointer: '', message: (error as Error).message }],
    });
  }
  const checked = checkChatRequest(parsed);
  if ('faults' in checked) {
    throw gatewayProblem(
      'model-request-invalid',
      'The body is not a Chat Completions request the gateway accepts.',
      {
        alias:
          typeof (parsed as { model?: unknown })?.model === 'string'
            ? (parsed as { model: string }).model
            : '',
        attempts: [],
        errors: checked.faults,
      },
    );
  }
  const request = checked.request;
  const alias = request.model;
  const info = (fields: Partial<AiCallInfo>): AiCallInfo =>
    callInfo(alias, { stream: request.stream === true, ...fields });
  try {
    await checkBudget(x);
  } catch (error) {
    throw withInfo(error, info({}));
  }

  const stream = request.stream === true;
  const wantsUsage = request.stream_options?.include_usage === true;
  const controller = new AbortController();
  const onClose = (): void => {
    if (!x.res.writableFinished) controller.abort();
  };
  x.res.on('close', onClose);
  const upstreamStarted = performance.now();
  const out = new ChunkWriter(x, wantsUsage);
  try {
    const answer = await x.invoker.invoke({
      alias,
      request,
      stream,
      signal: controller.signal,
      context: {
        id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
        created: Math.floor(Date.now() / 1000),
        model: alias,
      },
      ...(stream ? { onChunk: (chunk: ChatChunk) => out.write(chunk) } : {}),
    });
    const upstreamMs = performance.now() - upstreamStarted;
    await spend(x, answer.usage);
    const used = info({
      provider: answer.provider,
      model: answer.model,
      tokensIn: answer.usage.input,
      tokensOut: answer.usage.output,
      estimated: answer.usage.estimated,
      cost: costOf(ai, answer.provider, answer.model, answer.usage),
      attempts: answer.attempts,
      ttftMs: out.ttftMs,
    });
    const whole = JSON.stringify({ ...answer.completion, usage: usageOf(answer.usage) });
    const responseBody: RawBody = {
      data: Buffer.from(whole),
      truncated: false,
      contentType: 'application/json',
    };
    if (!stream) {
      return { ...sendJson(x, 200, whole, requestBody, used), upstreamMs, target: `ai:${answer.provider}` };
    }
    out.open();
    x.res.end(SSE_DONE);
    return {
      status: 200,
      code: null,
      responseBytes: out.bytes + SSE_DONE.length,
      requestBytes: text.length,
      requestBody,
      responseBody,
      ai: used,
      upstreamMs,
      target: `ai:${answer.provider}`,
    };
  } catch (error) {
    if (!(error instanceof ModelCallFailed)) throw error;
    const last = error.attempts.at(-1);
    if (error.usage) await spend(x, error.usage);
    const used = info({
      provider: last?.provider ?? null,
      model: last?.model ?? null,
      attempts: error.attempts.length,
      tokensIn: error.usage?.input ?? 0,
      tokensOut: error.usage?.output ?? 0,
      ttftMs: out.ttftMs,
    });
    if (!x.res.headersSent) throw withInfo(error.problem, used, requestBody);
    // Part of the answer is out: the failure can only be told inside the stream, as an `error` event.
    const bytes = endStreamWith(x, error.problem);
    return {
      status: 200,
      code: error.problem.code,
      responseBytes: out.bytes + bytes,
      requestBytes: text.length,
      requestBody,
      responseBody: null,
      ai: used,
      upstreamMs: performance.now() - upstreamStarted,
      target: last ? `ai:${last.provider}` : null,
    };
  } finally {
    x.res.off('close', onClose);
  }
}

/**
 * Writes a streamed answer's chunks as Server-Sent Events, sending the status and headers with the
 * first one (the time to first token). The usage-only last chunk goes out only when `usageChunk`
 * (a client that asked for it, as OpenAI does it); nothing is written to a client that went away.
 */
export class ChunkWriter {
  /** Bytes written so far. */
  bytes = 0;
  /** Milliseconds from the request to the first byte of the answer; null before it. */
  ttftMs: number | null = null;

  constructor(
    private readonly x: AiExchange,
    private readonly usageChunk: boolean,
  ) {}

  /** Sends the status and headers, once. */
  open(): void {
    if (this.x.res.headersSent) return;
    this.x.res.writeHead(200, {
      ...this.x.answerHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    this.ttftMs = performance.now() - this.x.started;
  }

  write(chunk: ChatChunk): void {
    if (chunk.choices.length === 0 && !this.usageChunk) return;
    if (this.x.res.destroyed) return;
    this.open();
    const event = sseData(chunk);
    this.bytes += Buffer.byteLength(event);
    this.x.res.write(event);
  }

  /**
   * Ends the stream of a finished answer with the whole result as one named event (`turn`,
   * `prompt`) and `[DONE]`; an answer that streamed nothing first gets its stop chunk, so the
   * client still sees a Chat Completions stream. Returns the bytes of the whole stream.
   */
  finish(completion: ChatCompletion, event: string, result: unknown): number {
    if (!this.x.res.headersSent)
      this.write({
        ...completion,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      });
    const last = `event: ${event}\n${sseData(result)}${SSE_DONE}`;
    this.x.res.end(last);
    return this.bytes + Buffer.byteLength(last);
  }
}

/** What an AI call used, before anything is known: `fields` fill in what is. */
export function callInfo(alias: string, fields: Partial<AiCallInfo>): AiCallInfo {
  return {
    alias,
    provider: null,
    model: null,
    tokensIn: 0,
    tokensOut: 0,
    cost: null,
    estimated: false,
    attempts: 0,
    stream: false,
    ttftMs: null,
    prompt: null,
    promptVersion: null,
    conversation: null,
    ...fields,
  };
}

/**
 * Ends a stream whose status has already been sent with the problem as a last `error` event, the
 * only way left to tell the client; returns the bytes written.
 */
export function endStreamWith(x: AiExchange, problem: GatewayProblem): number {
  const { body } = problemText(problem, x.req.url ?? '/');
  const event = `data: ${JSON.stringify({ error: JSON.parse(body) as unknown })}\n\n`;
  x.res.end(event);
  return Buffer.byteLength(event);
}

/** A problem that carries what the AI call used, so that its call record says so. */
export class AiProblem extends GatewayProblem {
  constructor(
    problem: GatewayProblem,
    readonly ai: AiCallInfo,
    readonly requestBody: RawBody | null,
  ) {
    super(problem.code, problem.detail, problem.members, problem.headers);
  }
}

export function withInfo(error: unknown, ai: AiCallInfo, requestBody: RawBody | null = null): unknown {
  return error instanceof GatewayProblem ? new AiProblem(error, ai, requestBody) : error;
}

/** Refuses the call when the subject's token budget is spent, and says what is left in the RateLimit fields. */
export async function checkBudget(x: AiExchange): Promise<void> {
  const perMinute = x.route.ai.tokensPerMinute;
  if (perMinute === undefined) return;
  const decision = await x.budget.peek(x.route.name, x.subject, perMinute, Date.now());
  addRateLimitFields(x, perMinute, decision.remaining, decision.resetSeconds);
  if (!decision.allowed) {
    throw gatewayProblem(
      'rate-limited',
      `Route ${x.route.name} allows ${perMinute} model tokens per minute; retry after ${decision.retryAfter} s.`,
      { limit: perMinute, window: 60, retryAfter: decision.retryAfter, unit: 'tokens' },
      { 'retry-after': String(decision.retryAfter) },
    );
  }
}

/** Takes a finished call's tokens from the subject's budget (a failed call's too, when the provider counted them). */
export async function spend(x: AiExchange, usage: TokenUsage): Promise<void> {
  const perMinute = x.route.ai.tokensPerMinute;
  if (perMinute === undefined) return;
  await x.budget.spend(x.route.name, x.subject, usage.input + usage.output, perMinute, Date.now());
}

/**
 * The token budget as IETF RateLimit fields (SPEC 5.2 form), as a policy of its own named
 * `<route>-tokens`, after the route's request limit when it has one.
 */
function addRateLimitFields(x: AiExchange, perMinute: number, remaining: number, reset: number): void {
  const name = `${x.route.name}-tokens`;
  const join = (prior: string | string[] | undefined, item: string): string =>
    prior === undefined ? item : `${String(prior)}, ${item}`;
  x.answerHeaders['ratelimit-policy'] = join(
    x.answerHeaders['ratelimit-policy'],
    `"${name}";q=${perMinute};w=60`,
  );
  x.answerHeaders['ratelimit'] = join(x.answerHeaders['ratelimit'], `"${name}";r=${remaining};t=${reset}`);
}

/** The cost of a call from the route's price table (per million tokens), or null without a price. */
export function costOf(ai: AiConfig, provider: string, model: string, usage: TokenUsage): number | null {
  const price = ai.prices.get(`${provider}/${model}`);
  if (!price) return null;
  return (usage.input * price.input + usage.output * price.output) / 1_000_000;
}

export function sendJson(
  x: AiExchange,
  status: number,
  body: string,
  requestBody: RawBody | null,
  ai: AiCallInfo | null,
  contentType = 'application/json',
): AiOutcome {
  const bytes = Buffer.byteLength(body);
  x.res.writeHead(status, {
    ...x.answerHeaders,
    'content-type': `${contentType}; charset=utf-8`,
    'content-length': bytes,
    'cache-control': 'no-store',
  });
  x.res.end(x.method === 'HEAD' ? undefined : body);
  return {
    status,
    code: null,
    responseBytes: bytes,
    requestBytes: requestBody?.data.length ?? 0,
    requestBody,
    responseBody: { data: Buffer.from(body), truncated: false, contentType: 'application/json' },
    ai,
    upstreamMs: null,
    target: null,
  };
}

function notAllowed(x: AiExchange, allow: string): GatewayProblem {
  return gatewayProblem(
    'method-not-allowed',
    `${x.method} is not allowed on ${x.path} of AI route ${x.route.name}; use ${allow}.`,
    {},
    { allow },
  );
}

/** Reads the whole request body, refusing it past `limit` bytes (413) without resetting the connection. */
export async function readBody(req: IncomingMessage, limit: number, route: RouteConfig): Promise<Buffer> {
  const tooLarge = (): GatewayProblem =>
    gatewayProblem(
      'payload-too-large',
      `AI route ${route.name} takes chat requests of at most ${limit} bytes.`,
      {
        limit,
      },
    );
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/**
 * Reads a JSON body (prompt inputs, conversations, turns) within the route's `maxBody`; an empty body
 * is `{}`, anything else that is not JSON a 400 `malformed-request`. `bytes` is its size, for the
 * call log.
 */
export async function readJson(x: AiExchange): Promise<{ value: unknown; bytes: number }> {
  const data = await readBody(x.req, x.route.ai.maxRequestBytes, x.route);
  try {
    return { value: data.length === 0 ? {} : JSON.parse(data.toString('utf8')), bytes: data.length };
  } catch (error) {
    throw gatewayProblem('malformed-request', 'The body is not JSON.', {
      errors: [{ pointer: '', message: (error as Error).message }],
    });
  }
}
