/**
 * Local stand-ins for three model providers, each speaking its documented wire format: OpenAI Chat
 * Completions (`/openai/v1/chat/completions`), Anthropic Messages (`/anthropic/v1/messages`) and
 * Google Gemini (`/gemini/v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`).
 * Each answers from a queue of scripted replies (or echoes the last user message), streams with the
 * chunk shapes and event names of its API, and reports usage where the real one does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type FakeKind = 'openai' | 'anthropic' | 'gemini';

/** One scripted answer. */
export interface FakeReply {
  /** The answer's text; default `echo: <last user text>`. */
  readonly text?: string;
  readonly toolCalls?: readonly { readonly name: string; readonly arguments: Record<string, unknown> }[];
  /** Default: 10 tokens in, one per word out. */
  readonly usage?: { readonly input: number; readonly output: number };
  /** Answer without any usage (as some local servers do). */
  readonly noUsage?: boolean;
  /** An error answer: the status and the provider's message. */
  readonly status?: number;
  readonly message?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Pieces the text streams in (default one per word). */
  readonly pieces?: number;
  readonly firstByteDelayMs?: number;
  readonly chunkDelayMs?: number;
  /** Cut the connection after this many streamed pieces. */
  readonly cutAfter?: number;
}

/** A request a fake provider received. */
export interface FakeRequest {
  readonly kind: FakeKind;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
}

export class FakeProviders {
  readonly requests: FakeRequest[] = [];
  readonly #queues: Record<FakeKind, FakeReply[]> = { openai: [], anthropic: [], gemini: [] };
  #server: Server | undefined;
  url = '';

  /** Base URLs to put in the gateway's `providers`. */
  baseUrl(kind: FakeKind): string {
    return {
      openai: `${this.url}/openai/v1`,
      anthropic: `${this.url}/anthropic`,
      gemini: `${this.url}/gemini/v1beta`,
    }[kind];
  }

  /** Queues replies for the next calls to `kind`. */
  reply(kind: FakeKind, ...replies: FakeReply[]): void {
    this.#queues[kind].push(...replies);
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => void this.#answer(req, res, Buffer.concat(parts).toString('utf8')));
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #answer(req: IncomingMessage, res: ServerResponse, text: string): Promise<void> {
    const path = req.url ?? '/';
    const kind: FakeKind | undefined = path.startsWith('/openai/v1/chat/completions')
      ? 'openai'
      : path.startsWith('/anthropic/v1/messages')
        ? 'anthropic'
        : path.startsWith('/gemini/v1beta/models/')
          ? 'gemini'
          : undefined;
    if (!kind || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"no such path"}}');
      return;
    }
    const body = JSON.parse(text) as Record<string, unknown>;
    this.requests.push({ kind, path, headers: req.headers, body });
    const reply = this.#queues[kind].shift() ?? {};
    if (reply.firstByteDelayMs) await sleep(reply.firstByteDelayMs);
    if (reply.status) return errorAnswer(kind, reply, res);
    const stream = kind === 'gemini' ? path.includes(':streamGenerateContent') : body['stream'] === true;
    const model =
      kind === 'gemini'
        ? decodeURIComponent(path.slice('/gemini/v1beta/models/'.length).split(':')[0]!)
        : String(body['model']);
    const answerText = reply.text ?? `echo: ${lastUserText(kind, body)}`;
    const words = answerText.split(/(?<= )/);
    const usage = reply.usage ?? { input: 10, output: words.length };
    const pieces = splitInto(answerText, reply.pieces ?? words.length);
    const shape = { model, text: answerText, pieces, usage, reply };
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(wholeAnswer(kind, shape)));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let sent = 0;
    for (const event of streamEvents(kind, shape, body)) {
      if (event.piece) {
        if (reply.cutAfter !== undefined && sent === reply.cutAfter) {
          // Let what was written reach the gateway first: the cut must come mid-stream.
          await sleep(50);
          res.destroy();
          return;
        }
        sent++;
        if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
      }
      res.write(event.text);
    }
    res.end();
  }
}

interface Shape {
  readonly model: string;
  readonly text: string;
  readonly pieces: string[];
  readonly usage: { input: number; output: number };
  readonly reply: FakeReply;
}

function wholeAnswer(kind: FakeKind, s: Shape): unknown {
  const calls = s.reply.toolCalls ?? [];
  if (kind === 'openai') {
    return {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: s.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: calls.length ? null : s.text,
            ...(calls.length
              ? {
                  tool_calls: calls.map((c, i) => ({
                    id: `call_${i}`,
                    type: 'function',
                    function: { name: c.name, arguments: JSON.stringify(c.arguments) },
                  })),
                }
              : {}),
          },
          finish_reason: calls.length ? 'tool_calls' : 'stop',
        },
      ],
      ...(s.reply.noUsage
        ? {}
        : {
            usage: {
              prompt_tokens: s.usage.input,
              completion_tokens: s.usage.output,
              total_tokens: s.usage.input + s.usage.output,
            },
          }),
    };
  }
  if (kind === 'anthropic') {
    return {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model: s.model,
      content: calls.length
        ? calls.map((c, i) => ({ type: 'tool_use', id: `toolu_${i}`, name: c.name, input: c.arguments }))
        : [{ type: 'text', text: s.text }],
      stop_reason: calls.length ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: s.usage.input, output_tokens: s.usage.output },
    };
  }
  return {
    candidates: [
      {
        content: {
          role: 'model',
          parts: calls.length
            ? calls.map((c) => ({ functionCall: { name: c.name, args: c.arguments } }))
            : [{ text: s.text }],
        },
        finishReason: 'STOP',
        index: 0,
      },
    ],
    usageMetadata: {
      promptTokenCount: s.usage.input,
      candidatesTokenCount: s.usage.output,
      totalTokenCount: s.usage.input + s.usage.output,
    },
    modelVersion: s.model,
  };
}

/** The stream of each API; `piece` marks the events that carry a piece of the text. */
function* streamEvents(
  kind: FakeKind,
  s: Shape,
  body: Record<string, unknown>,
): Generator<{ text: string; piece?: boolean }> {
  const data = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`;
  const calls = s.reply.toolCalls ?? [];
  if (kind === 'openai') {
    const base = {
      id: 'chatcmpl-fake',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: s.model,
    };
    yield {
      text: data({
        ...base,
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      }),
    };
    if (calls.length) {
      for (const [i, c] of calls.entries()) {
        const args = JSON.stringify(c.arguments);
        const half = Math.floor(args.length / 2);
        yield {
          text: data({
            ...base,
            choices: [
              {
                index: 0,
                delta: {
                  tool_calls: [
                    {
                      index: i,
                      id: `call_${i}`,
                      type: 'function',
                      function: { name: c.name, arguments: args.slice(0, half) },
                    },
                  ],
                },
                finish_reason: null,
              },
            ],
          }),
          piece: true,
        };
        yield {
          text: data({
            ...base,
            choices: [
              {
                index: 0,
                delta: { tool_calls: [{ index: i, function: { arguments: args.slice(half) } }] },
                finish_reason: null,
              },
            ],
          }),
          piece: true,
        };
      }
    } else {
      for (const piece of s.pieces) {
        yield {
          text: data({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] }),
          piece: true,
        };
      }
    }
    yield {
      text: data({
        ...base,
        choices: [{ index: 0, delta: {}, finish_reason: calls.length ? 'tool_calls' : 'stop' }],
      }),
    };
    const wantsUsage =
      (body['stream_options'] as { include_usage?: boolean } | undefined)?.include_usage === true;
    if (wantsUsage && !s.reply.noUsage) {
      yield {
        text: data({
          ...base,
          choices: [],
          usage: {
            prompt_tokens: s.usage.input,
            completion_tokens: s.usage.output,
            total_tokens: s.usage.input + s.usage.output,
          },
        }),
      };
    }
    yield { text: 'data: [DONE]\n\n' };
    return;
  }
  if (kind === 'anthropic') {
    const event = (name: string, value: unknown): string =>
      `event: ${name}\ndata: ${JSON.stringify(value)}\n\n`;
    yield {
      text: event('message_start', {
        type: 'message_start',
        message: {
          id: 'msg_fake',
          type: 'message',
          role: 'assistant',
          model: s.model,
          content: [],
          stop_reason: null,
          usage: { input_tokens: s.usage.input, output_tokens: 1 },
        },
      }),
    };
    yield { text: event('ping', { type: 'ping' }) };
    if (calls.length) {
      for (const [i, c] of calls.entries()) {
        const args = JSON.stringify(c.arguments);
        const half = Math.floor(args.length / 2);
        yield {
          text: event('content_block_start', {
            type: 'content_block_start',
            index: i,
            content_block: { type: 'tool_use', id: `toolu_${i}`, name: c.name, input: {} },
          }),
        };
        yield {
          text: event('content_block_delta', {
            type: 'content_block_delta',
            index: i,
            delta: { type: 'input_json_delta', partial_json: args.slice(0, half) },
          }),
          piece: true,
        };
        yield {
          text: event('content_block_delta', {
            type: 'content_block_delta',
            index: i,
            delta: { type: 'input_json_delta', partial_json: args.slice(half) },
          }),
          piece: true,
        };
        yield { text: event('content_block_stop', { type: 'content_block_stop', index: i }) };
      }
    } else {
      yield {
        text: event('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }),
      };
      for (const piece of s.pieces) {
        yield {
          text: event('content_block_delta', {
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text: piece },
          }),
          piece: true,
        };
      }
      yield { text: event('content_block_stop', { type: 'content_block_stop', index: 0 }) };
    }
    yield {
      text: event('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: calls.length ? 'tool_use' : 'end_turn', stop_sequence: null },
        usage: { output_tokens: s.usage.output },
      }),
    };
    yield { text: event('message_stop', { type: 'message_stop' }) };
    return;
  }
  const usageMetadata = (output: number) => ({
    promptTokenCount: s.usage.input,
    candidatesTokenCount: output,
    totalTokenCount: s.usage.input + output,
  });
  if (calls.length) {
    yield {
      text: data({
        candidates: [
          {
            content: {
              role: 'model',
              parts: calls.map((c) => ({ functionCall: { name: c.name, args: c.arguments } })),
            },
            finishReason: 'STOP',
            index: 0,
          },
        ],
        usageMetadata: usageMetadata(s.usage.output),
      }),
      piece: true,
    };
    return;
  }
  for (const [i, piece] of s.pieces.entries()) {
    const last = i === s.pieces.length - 1;
    yield {
      text: data({
        candidates: [
          {
            content: { role: 'model', parts: [{ text: piece }] },
            index: 0,
            ...(last ? { finishReason: 'STOP' } : {}),
          },
        ],
        usageMetadata: usageMetadata(last ? s.usage.output : i + 1),
      }),
      piece: true,
    };
  }
}

function errorAnswer(kind: FakeKind, reply: FakeReply, res: ServerResponse): void {
  const status = reply.status!;
  const message = reply.message ?? `fake ${kind} error ${status}`;
  let body: unknown;
  if (kind === 'openai') {
    body = {
      error: {
        message,
        type: status === 429 ? 'rate_limit_exceeded' : 'invalid_request_error',
        param: null,
        code: null,
      },
    };
  } else if (kind === 'anthropic') {
    const type =
      status === 429
        ? 'rate_limit_error'
        : status === 529
          ? 'overloaded_error'
          : status >= 500
            ? 'api_error'
            : 'invalid_request_error';
    body = { type: 'error', error: { type, message } };
  } else {
    const names: Record<number, string> = {
      400: 'INVALID_ARGUMENT',
      429: 'RESOURCE_EXHAUSTED',
      500: 'INTERNAL',
      503: 'UNAVAILABLE',
    };
    body = { error: { code: status, message, status: names[status] ?? 'UNKNOWN' } };
  }
  res.writeHead(status, { 'content-type': 'application/json', ...reply.headers });
  res.end(JSON.stringify(body));
}

function lastUserText(kind: FakeKind, body: Record<string, unknown>): string {
  const list = (kind === 'gemini' ? body['contents'] : body['messages']) as {
    role: string;
    content?: unknown;
    parts?: { text?: string }[];
  }[];
  const last = [...list].reverse().find((m) => m.role === 'user');
  if (!last) return '';
  if (kind === 'gemini') return (last.parts ?? []).map((p) => p.text ?? '').join('');
  if (typeof last.content === 'string') return last.content;
  return ((last.content as { type: string; text?: string }[]) ?? []).map((p) => p.text ?? '').join('');
}

function splitInto(text: string, pieces: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, pieces)));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [''];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
