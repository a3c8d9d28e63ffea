/**
 * AI routes end to end: a real gateway in front of local fake providers that speak OpenAI's,
 * Anthropic's and Gemini's wire formats (test/support/fake-ai.ts). Clients speak Chat Completions.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../packages/gateway/src/config/load.js';
import type { CallRecord } from '../packages/gateway/src/calls/record.js';
import { createGateway, type Gateway } from '../packages/gateway/src/gateway.js';
import type { AccessControl } from '../packages/gateway/src/proxy/policies.js';
import { FakeProviders, type FakeKind } from './support/fake-ai.js';
import { createServer, resolveConfig } from '@truce/server';
import { createClient, isProblem } from '@truce/client';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exited, requireBuild, tempDir } from './helpers.js';
import { adminCall, startGateway } from './support/gateway.js';
import type { FastifyInstance } from 'fastify';

let fake: FakeProviders;
beforeAll(async () => {
  fake = await new FakeProviders().start();
});
afterAll(async () => {
  await fake.close();
});

const open: AccessControl = {
  authenticate: () => {
    throw new Error('no keys in these tests');
  },
};

/** Two consumers, by key. */
const keys: AccessControl = {
  authenticate: (_route, key) => {
    const name = { 'key-alice': 'alice', 'key-bob': 'bob' }[key ?? ''];
    if (!name) throw new Error('unknown key');
    return Promise.resolve({ id: name, name });
  },
};

const running: Gateway[] = [];
afterEach(async () => {
  for (const gw of running.splice(0)) await gw.close(1000);
  fake.requests.length = 0;
});

const SECRET = { openai: 'sk-openai-secret-1', anthropic: 'sk-ant-secret-2', gemini: 'gemini-secret-3' };

async function gateway(
  ai: Record<string, unknown> = {},
  upstreams: Record<string, unknown> = {},
  route: Record<string, unknown> = {},
): Promise<{ url: string; calls: CallRecord[] }> {
  const providers = Object.fromEntries(
    (['openai', 'anthropic', 'gemini'] as FakeKind[]).map((kind) => [
      kind,
      { type: kind, baseUrl: fake.baseUrl(kind), key: SECRET[kind], timeouts: { response: '2s' } },
    ]),
  );
  const config = resolveGatewayConfig(
    {
      gateway: {
        listen: '127.0.0.1:0',
        upstreams,
        routes: [
          {
            name: 'ai',
            match: { prefix: '/ai' },
            stripPrefix: true,
            ...route,
            ai: {
              providers,
              models: {
                gpt: ['openai/gpt-4o-mini'],
                claude: ['anthropic/claude-haiku'],
                gemini: ['gemini/gemini-2.5-flash'],
                fast: ['openai/gpt-4o-mini', 'anthropic/claude-haiku', 'gemini/gemini-2.5-flash'],
              },
              prices: {
                'openai/gpt-4o-mini': { input: 0.15, output: 0.6 },
                'anthropic/claude-haiku': { input: 1, output: 5 },
              },
              ...ai,
            },
          },
        ],
      },
    },
    { env: {} },
  );
  const calls: CallRecord[] = [];
  const gw = createGateway(config, {
    access: route['auth'] === 'key' ? keys : open,
    calls: { push: (r) => calls.push(r) },
  });
  running.push(gw);
  const { port } = await gw.listen();
  return { url: `http://127.0.0.1:${port}/ai`, calls };
}

async function chat(url: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The `data:` payloads of an SSE body, parsed, with `[DONE]` as the string. */
async function events(res: Response): Promise<unknown[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => {
      const data = block.slice('data: '.length);
      return data === '[DONE]' ? data : (JSON.parse(data) as unknown);
    });
}

const hello = { messages: [{ role: 'user', content: 'hello there' }] };

describe('chat completions through each provider', () => {
  for (const alias of ['gpt', 'claude', 'gemini'] as const) {
    it(`${alias}: a whole answer in Chat Completions form, with usage and cost in the call log`, async () => {
      const { url, calls } = await gateway();
      const res = await chat(url, { model: alias, ...hello });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        object: string;
        model: string;
        choices: { message: { role: string; content: string }; finish_reason: string }[];
        usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
      };
      expect(body.object).toBe('chat.completion');
      expect(body.model).toBe(alias);
      expect(body.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'echo: hello there' });
      expect(body.choices[0]!.finish_reason).toBe('stop');
      expect(body.usage).toEqual({ prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 });
      const seen = fake.requests.at(-1)!;
      const kind = { gpt: 'openai', claude: 'anthropic', gemini: 'gemini' }[alias];
      expect(seen.kind).toBe(kind);
      // The provider's key goes to the provider in its own header, and never back to the client.
      const sentKey =
        seen.headers['authorization'] ?? seen.headers['x-api-key'] ?? seen.headers['x-goog-api-key'];
      expect(String(sentKey)).toContain(SECRET[kind as FakeKind]);
      expect(seen.path).not.toContain(SECRET[kind as FakeKind]);
      await until(() => calls.length === 1);
      const record = calls[0]!;
      expect(record.status).toBe(200);
      expect(record.ai).toMatchObject({ alias, tokensIn: 10, tokensOut: 3, attempts: 1, stream: false });
      expect(JSON.stringify(record)).not.toContain(SECRET[kind as FakeKind]);
      if (alias === 'gpt') expect(record.ai!.cost).toBeCloseTo((10 * 0.15 + 3 * 0.6) / 1e6, 12);
      if (alias === 'gemini') expect(record.ai!.cost).toBeNull();
    });

    it(`${alias}: a streamed answer as chat.completion.chunk events ending in [DONE]`, async () => {
      const { url, calls } = await gateway();
      const res = await chat(url, {
        model: alias,
        ...hello,
        stream: true,
        stream_options: { include_usage: true },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const list = await events(res);
      expect(list.at(-1)).toBe('[DONE]');
      const chunks = list.slice(0, -1) as {
        object: string;
        model: string;
        choices: { delta: { content?: string | null }; finish_reason: string | null }[];
        usage?: { prompt_tokens: number; completion_tokens: number };
      }[];
      for (const chunk of chunks) {
        expect(chunk.object).toBe('chat.completion.chunk');
        expect(chunk.model).toBe(alias);
      }
      const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
      expect(text).toBe('echo: hello there');
      expect(chunks.some((c) => c.choices.some((ch) => ch.finish_reason === 'stop'))).toBe(true);
      expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 3 });
      await until(() => calls.length === 1);
      expect(calls[0]!.ai).toMatchObject({ tokensIn: 10, tokensOut: 3, stream: true });
      expect(calls[0]!.ai!.ttftMs).toBeGreaterThan(0);
    });

    it(`${alias}: tool calls both ways, streamed and whole`, async () => {
      const { url } = await gateway();
      const tools = [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather of a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ];
      const kind = ({ gpt: 'openai', claude: 'anthropic', gemini: 'gemini' } as const)[alias];
      fake.reply(kind, { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
      const res = await chat(url, { model: alias, ...hello, tools });
      const body = (await res.json()) as {
        choices: {
          message: { tool_calls: { id: string; function: { name: string; arguments: string } }[] };
          finish_reason: string;
        }[];
      };
      const call = body.choices[0]!.message.tool_calls[0]!;
      expect(call.function.name).toBe('get_weather');
      expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });
      expect(body.choices[0]!.finish_reason).toBe('tool_calls');
      // The provider received the tool in its own shape.
      expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain('get_weather');

      // The answer to the call goes back as a tool message, translated for the provider.
      fake.reply(kind, { toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
      const streamed = await chat(url, {
        model: alias,
        stream: true,
        tools,
        messages: [
          { role: 'user', content: 'weather?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: call.id, type: 'function', function: call.function }],
          },
          { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' },
        ],
      });
      const chunks = (await events(streamed)).slice(0, -1) as {
        choices: {
          delta: { tool_calls?: { index: number; function?: { name?: string; arguments?: string } }[] };
        }[];
      }[];
      const args = chunks
        .flatMap((c) => c.choices.flatMap((ch) => ch.delta.tool_calls ?? []))
        .map((t) => t.function?.arguments ?? '')
        .join('');
      expect(JSON.parse(args)).toEqual({ city: 'Oslo' });
      expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain('21');
    });
  }
});

describe('aliases and fallback', () => {
  it('tries the next provider model on 429 and 5xx, and records the attempts', async () => {
    const { url, calls } = await gateway();
    fake.reply('openai', {
      status: 429,
      message: 'Rate limit reached for gpt-4o-mini',
      headers: { 'retry-after': '7' },
    });
    fake.reply('anthropic', { status: 529, message: 'Overloaded' });
    const res = await chat(url, { model: 'fast', ...hello });
    expect(res.status).toBe(200);
    expect(fake.requests.map((r) => r.kind)).toEqual(['openai', 'anthropic', 'gemini']);
    await until(() => calls.length === 1);
    expect(calls[0]!.ai).toMatchObject({ provider: 'gemini', model: 'gemini-2.5-flash', attempts: 3 });
  });

  it('answers model-rate-limited with Retry-After and the provider’s words when every model refuses', async () => {
    const { url } = await gateway();
    fake.reply('openai', { status: 429, message: 'slow down', headers: { 'retry-after': '7' } });
    const res = await chat(url, { model: 'gpt', ...hello });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('7');
    const problem = (await res.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({ code: 'model-rate-limited', providerMessage: 'slow down', alias: 'gpt' });
    expect(JSON.stringify(problem)).not.toContain(SECRET.openai);
  });

  it('maps provider errors: 5xx to model-unavailable, 400 to model-request-invalid, context length to context-too-long', async () => {
    const { url } = await gateway();
    fake.reply('anthropic', { status: 500, message: 'Internal server error' });
    let res = await chat(url, { model: 'claude', ...hello });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      code: 'model-unavailable',
      providerMessage: 'Internal server error',
    });

    fake.requests.length = 0;
    fake.reply('openai', { status: 400, message: 'Invalid value for temperature' });
    res = await chat(url, { model: 'fast', ...hello });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'model-request-invalid',
      providerMessage: 'Invalid value for temperature',
    });
    // A request the provider calls invalid is not sent to the next model.
    expect(fake.requests.filter((r) => r.kind !== 'openai')).toEqual([]);

    fake.reply('openai', {
      status: 400,
      message:
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
    });
    res = await chat(url, { model: 'gpt', ...hello });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'context-too-long' });
  });

  it('never passes a provider key on to the client, even when the provider quotes it', async () => {
    const { url, calls } = await gateway();
    fake.reply('openai', { status: 401, message: `Incorrect API key provided: ${SECRET.openai}` });
    fake.reply('anthropic', { status: 500, message: `upstream said ${SECRET.anthropic} is odd` });
    fake.reply('gemini', { status: 503, message: `busy, key ${SECRET.gemini}` });
    const res = await chat(url, { model: 'fast', ...hello });
    expect(res.status).toBe(503);
    const text = await res.text();
    for (const secret of Object.values(SECRET)) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    await until(() => calls.length === 1);
    for (const secret of Object.values(SECRET)) expect(JSON.stringify(calls[0])).not.toContain(secret);
  });

  it('falls back on a timeout before the first byte, but not once the stream has started', async () => {
    const { url } = await gateway();
    fake.reply('openai', { firstByteDelayMs: 3000 });
    let res = await chat(url, { model: 'fast', ...hello, stream: true });
    expect(res.status).toBe(200);
    let list = await events(res);
    expect(list.at(-1)).toBe('[DONE]');
    expect(fake.requests.map((r) => r.kind)).toEqual(['openai', 'anthropic']);

    fake.requests.length = 0;
    fake.reply('openai', { text: 'one two three four', cutAfter: 2 });
    res = await chat(url, { model: 'fast', ...hello, stream: true });
    expect(res.status).toBe(200);
    list = await events(res);
    // Part of the answer went out: the failure is told in the stream, and no other model is tried.
    expect(JSON.stringify(list.at(-1))).toContain('model-unavailable');
    expect(fake.requests.map((r) => r.kind)).toEqual(['openai']);
  });
});

describe('requests the gateway refuses itself', () => {
  it('names every fault of a malformed chat request with its pointer, and an unknown alias', async () => {
    const { url } = await gateway();
    let res = await chat(url, {
      model: 'gpt',
      messages: [{ role: 'robot', content: 1 }],
      n: 3,
      temperature: 9,
    });
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { code: string; errors: { pointer: string }[] };
    expect(problem.code).toBe('model-request-invalid');
    const pointers = problem.errors.map((e) => e.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining(['/messages/0/role', '/messages/0/content', '/n', '/temperature']),
    );
    res = await chat(url, { model: 'nope', ...hello });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'model-request-invalid',
      errors: [{ pointer: '/model' }],
    });
    res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: '{"model":' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'malformed-request' });
    expect(fake.requests).toEqual([]);
  });

  it('refuses a body over the limit with 413, and lists the aliases', async () => {
    const { url } = await gateway({ maxBody: '1kb' });
    const res = await chat(url, { model: 'gpt', messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'payload-too-large', limit: 1024 });
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['gpt', 'claude', 'gemini', 'fast']);
  });
});

describe('token budgets', () => {
  it('counts tokens per client, answers with RateLimit fields in tokens, and refuses once spent', async () => {
    const { url } = await gateway({ tokensPerMinute: 30 });
    fake.reply('openai', { usage: { input: 10, output: 15 } });
    let res = await chat(url, { model: 'gpt', ...hello });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-policy')).toBe('"ai-tokens";q=30;w=60');
    expect(res.headers.get('ratelimit')).toBe('"ai-tokens";r=30;t=0');
    await res.text();
    fake.reply('openai', { usage: { input: 10, output: 15 } });
    res = await chat(url, { model: 'gpt', ...hello });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit')).toMatch(/^"ai-tokens";r=5;t=\d+$/);
    await res.text();
    res = await chat(url, { model: 'gpt', ...hello });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await res.json()).toMatchObject({ code: 'rate-limited', unit: 'tokens', limit: 30 });
    expect(fake.requests).toHaveLength(2);
  });

  it('counts a stream without usage by estimate', async () => {
    const { url, calls } = await gateway();
    fake.reply('openai', { noUsage: true, text: 'a b c d e f g h' });
    const res = await chat(url, { model: 'gpt', ...hello, stream: true });
    await res.text();
    await until(() => calls.length === 1);
    expect(calls[0]!.ai).toMatchObject({ estimated: true });
    expect(calls[0]!.ai!.tokensOut).toBeGreaterThan(0);
  });
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('conversations kept in Truce', () => {
  let truce: FastifyInstance;
  let truceUrl: string;
  beforeAll(async () => {
    truce = await createServer(
      resolveConfig({ storage: 'sqlite::memory:', collections: { conversations: {} } }),
    );
    truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await truce.close();
  });

  async function withState(): Promise<{ url: string; calls: CallRecord[] }> {
    return gateway({ state: { upstream: 'truce' } }, { truce: { targets: [truceUrl] } });
  }

  async function start(url: string): Promise<{ id: string; etag: string }> {
    const res = await fetch(`${url}/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt', system: 'Be brief.' }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string };
    return { id: body.id, etag: res.headers.get('etag')! };
  }

  const say = (
    url: string,
    id: string,
    etag: string | null,
    content: string,
    extra: Record<string, unknown> = {},
  ) =>
    fetch(`${url}/conversations/${id}/turns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(etag ? { 'if-match': etag } : {}) },
      body: JSON.stringify({ content, ...extra }),
    });

  it('appends turns one version at a time, and sends the history to the model', async () => {
    const { url, calls } = await withState();
    const { id, etag } = await start(url);
    let res = await say(url, id, etag, 'first');
    expect(res.status).toBe(201);
    const first = (await res.json()) as {
      etag: string;
      turn: { status: string; answer: { content: string } };
    };
    expect(first.turn).toMatchObject({ status: 'done', answer: { content: 'echo: first' } });
    expect(res.headers.get('etag')).toBe(first.etag);
    res = await say(url, id, first.etag, 'second');
    expect(res.status).toBe(201);
    const sent = fake.requests.at(-1)!.body as { messages: { role: string; content: string }[] };
    expect(sent.messages.map((m) => [m.role, m.content])).toEqual([
      ['system', 'Be brief.'],
      ['user', 'first'],
      ['assistant', 'echo: first'],
      ['user', 'second'],
    ]);
    const stored = (await (await fetch(`${url}/conversations/${id}`)).json()) as { turns: unknown[] };
    expect(stored.turns).toHaveLength(2);
    await until(() => calls.filter((c) => c.ai?.conversation === id).length === 2);
    // Without If-Match a turn is refused: it must say which version it continues.
    res = await say(url, id, null, 'third');
    expect(res.status).toBe(428);
  });

  it('20 turns racing on one version: exactly one is appended, the others get turn-conflict naming it', async () => {
    const { url } = await withState();
    const { id, etag } = await start(url);
    fake.requests.length = 0;
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await say(url, id, etag, `racer ${i}`);
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      }),
    );
    const won = answers.filter((a) => a.status === 201);
    const lostTurns = answers.filter((a) => a.status === 412);
    expect(won).toHaveLength(1);
    expect(lostTurns).toHaveLength(19);
    const winner = (won[0]!.body as { turn: { id: string; user: { content: string } } }).turn;
    for (const l of lostTurns) {
      expect(l.body).toMatchObject({ code: 'turn-conflict', yourEtag: etag });
      expect((l.body['won'] as { id: string }).id).toBe(winner.id);
    }
    // Only the winner reached a model; the conversation holds exactly its turn.
    expect(fake.requests).toHaveLength(1);
    const stored = (await (await fetch(`${url}/conversations/${id}`)).json()) as {
      turns: { id: string; status: string }[];
    };
    expect(stored.turns).toEqual([expect.objectContaining({ id: winner.id, status: 'done' })]);
  });

  it('the SDK’s turn re-runs a turn that lost the race on the new history', async () => {
    const { url } = await withState();
    const { id } = await start(url);
    const alice = createClient({ baseUrl: url });
    const bob = createClient({ baseUrl: url });
    // Both read the same version, then both add a turn: one wins, the other is re-run after it.
    await alice.get('conversations', id);
    await bob.get('conversations', id);
    const seen: unknown[] = [];
    const [a, b] = await Promise.all([
      alice.turn(id, 'from alice', { onConflict: ({ won }) => (seen.push(won), 'from alice, again') }),
      bob.turn(id, 'from bob', { onConflict: ({ won }) => (seen.push(won), 'from bob, again') }),
    ]);
    expect(seen).toHaveLength(1);
    expect(a.etag).not.toBe(b.etag);
    const stored = (await (await fetch(`${url}/conversations/${id}`)).json()) as {
      turns: { status: string; user: { content: string } }[];
    };
    expect(stored.turns.map((t) => t.status)).toEqual(['done', 'done']);
    expect(stored.turns[1]!.user.content).toMatch(/again$/);
    // With 'abort' the conflict is the caller's to handle.
    const carol = createClient({ baseUrl: url });
    const stale = (await carol.get('conversations', id)).etag!;
    await alice.turn(id, 'one more');
    await expect(carol.turn(id, 'late', { ifMatch: stale, onConflict: () => 'abort' })).rejects.toSatisfy(
      (e: unknown) => isProblem(e, 'turn-conflict'),
    );
  });

  it('a spent token budget refuses a turn before it takes a place; an answer that cannot be stored is a 502', async () => {
    const { url } = await gateway(
      { state: { upstream: 'truce' }, tokensPerMinute: 20 },
      { truce: { targets: [truceUrl] } },
    );
    const { id, etag } = await start(url);
    fake.reply('openai', { usage: { input: 15, output: 15 } });
    const first = await say(url, id, etag, 'spend it');
    expect(first.status).toBe(201);
    const next = ((await first.json()) as { etag: string }).etag;
    const refused = await say(url, id, next, 'too much');
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ code: 'rate-limited', unit: 'tokens' });
    const stored = (await (await fetch(`${url}/conversations/${id}`)).json()) as { turns: unknown[] };
    expect(stored.turns).toHaveLength(1);

    // The conversation is deleted on the state server while the model answers.
    const other = await gateway({ state: { upstream: 'truce' } }, { truce: { targets: [truceUrl] } });
    const gone = await start(other.url);
    fake.reply('openai', { firstByteDelayMs: 300 });
    const turn = say(other.url, gone.id, gone.etag, 'into the void');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${truceUrl}/conversations/${gone.id}`, { method: 'DELETE' })).status).toBe(204);
    const res = await turn;
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'bad-gateway' });
  });

  it('a conversation belongs to the consumer that started it', async () => {
    const { url } = await gateway(
      { state: { upstream: 'truce' } },
      { truce: { targets: [truceUrl] } },
      { auth: 'key' },
    );
    const as = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
    const started = await fetch(`${url}/conversations`, {
      method: 'POST',
      headers: as('key-alice'),
      body: JSON.stringify({ model: 'gpt' }),
    });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    const etag = started.headers.get('etag')!;
    expect((await fetch(`${url}/conversations/${id}`, { headers: as('key-alice') })).status).toBe(200);
    expect((await fetch(`${url}/conversations/${id}`, { headers: as('key-bob') })).status).toBe(404);
    const bobTurn = await fetch(`${url}/conversations/${id}/turns`, {
      method: 'POST',
      headers: { ...as('key-bob'), 'if-match': etag },
      body: JSON.stringify({ content: 'hijack' }),
    });
    expect(bobTurn.status).toBe(404);
    const aliceTurn = await fetch(`${url}/conversations/${id}/turns`, {
      method: 'POST',
      headers: { ...as('key-alice'), 'if-match': etag },
      body: JSON.stringify({ content: 'mine' }),
    });
    expect(aliceTurn.status).toBe(201);
  });

  it('a streamed turn stores the finished answer when the stream ends', async () => {
    const { url } = await withState();
    const { id, etag } = await start(url);
    fake.reply('openai', { text: 'streamed words here', chunkDelayMs: 5 });
    const res = await say(url, id, etag, 'go', { stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('event: turn');
    expect(text.trim().endsWith('data: [DONE]')).toBe(true);
    const stored = (await (await fetch(`${url}/conversations/${id}`)).json()) as {
      turns: { status: string; answer: { content: string } }[];
    };
    expect(stored.turns[0]).toMatchObject({ status: 'done', answer: { content: 'streamed words here' } });
  });

  it('a failed model call marks the turn failed, and the next turn continues from there', async () => {
    const { url } = await withState();
    const { id, etag } = await start(url);
    fake.reply('openai', { status: 500, message: 'boom' });
    let res = await say(url, id, etag, 'will fail');
    expect(res.status).toBe(503);
    const read = await fetch(`${url}/conversations/${id}`);
    const now = read.headers.get('etag')!;
    const stored = (await read.json()) as { turns: { status: string; error: string }[] };
    expect(stored.turns[0]).toMatchObject({ status: 'failed', error: 'model-unavailable' });
    res = await say(url, id, now, 'again');
    expect(res.status).toBe(201);
    const sent = fake.requests.at(-1)!.body as { messages: { content: string }[] };
    expect(sent.messages.map((m) => m.content)).toEqual(['Be brief.', 'again']);
  });
});

describe('conversations: a gateway killed during a turn', () => {
  let truce: FastifyInstance;
  let truceUrl: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    requireBuild();
    truce = await createServer(
      resolveConfig({ storage: 'sqlite::memory:', collections: { conversations: {} } }),
    );
    truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await truce.close();
  });

  it('leaves its turn pending until turnTimeout; then the next turn gives it up and goes on', async () => {
    const dir = tempDir('truce-ai-kill-');
    try {
      const file = join(dir.path, 'gateway.yaml');
      writeFileSync(
        file,
        `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "ai-admin-key-0123456789abcdef" }
  storage: sqlite:${join(dir.path, 'gateway.db')}
  upstreams:
    truce: { targets: [${truceUrl}] }
  routes:
    - name: ai
      match: { prefix: /ai }
      stripPrefix: true
      ai:
        providers:
          openai: { type: openai, baseUrl: ${fake.baseUrl('openai')}, key: sk-test }
        models:
          gpt: [openai/gpt-4o-mini]
        state: { upstream: truce, turnTimeout: 2s }
`,
      );
      const post = (url: string, path: string, etag: string | null, body: unknown) =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(etag ? { 'if-match': etag } : {}) },
          body: JSON.stringify(body),
        });
      const first = await startGateway(file, children);
      let res = await post(`${first.proxy}/ai`, '/conversations', null, { model: 'gpt' });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const etag = res.headers.get('etag')!;

      // The model is slow; the gateway dies once the turn has claimed its place and asked the model.
      const asked = fake.requests.length;
      fake.reply('openai', { firstByteDelayMs: 3_000 });
      const lost = post(`${first.proxy}/ai`, `/conversations/${id}/turns`, etag, { content: 'lost' }).catch(
        (error: Error) => error,
      );
      await until(() => fake.requests.length > asked);
      first.child.kill('SIGKILL');
      await exited(first.child);
      expect(await lost).toBeInstanceOf(Error);

      const second = await startGateway(file, children);
      const url = `${second.proxy}/ai`;
      const read = async () => {
        const r = await fetch(`${url}/conversations/${id}`);
        return {
          etag: r.headers.get('etag')!,
          body: (await r.json()) as {
            turns: { status: string; error?: string; user: { content: string } }[];
          },
        };
      };
      const claimed = await read();
      expect(claimed.body.turns).toMatchObject([{ status: 'pending', user: { content: 'lost' } }]);
      // Within the timeout the turn may still be answered elsewhere: wait, as Retry-After says.
      res = await post(url, `/conversations/${id}/turns`, claimed.etag, { content: 'next' });
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ code: 'turn-in-progress' });
      const wait = Number(res.headers.get('retry-after'));
      expect(wait).toBeGreaterThanOrEqual(1);
      expect(wait).toBeLessThanOrEqual(2);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 100));
      res = await post(url, `/conversations/${id}/turns`, claimed.etag, { content: 'next' });
      expect(res.status).toBe(201);
      const after = await read();
      expect(after.body.turns).toMatchObject([
        { status: 'failed', error: 'abandoned', user: { content: 'lost' } },
        { status: 'done', user: { content: 'next' } },
      ]);
    } finally {
      dir.remove();
    }
  });
});

describe('prompts as REST APIs', () => {
  let truce: FastifyInstance;
  let truceUrl: string;
  beforeAll(async () => {
    truce = await createServer(
      resolveConfig({
        storage: 'sqlite::memory:',
        collections: {
          prompts: {
            states: {
              field: 'status',
              initial: 'draft',
              transitions: {
                publish: { from: ['draft'], to: 'published' },
                retire: { from: ['published'], to: 'retired' },
              },
            },
          },
        },
      }),
    );
    truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await truce.close();
  });

  const put = (id: string, body: unknown, headers: Record<string, string>) =>
    fetch(`${truceUrl}/prompts/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const call = (url: string, name: string, input: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/prompts/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(input),
    });

  it('goes draft → published → retired, and a call records the version it used', async () => {
    const { url, calls } = await gateway(
      { state: { upstream: 'truce' } },
      { truce: { targets: [truceUrl] } },
    );
    const prompt = {
      template: 'Summarise in one line: {{text}}',
      model: 'gpt',
      input: {
        type: 'object',
        required: ['text'],
        properties: { text: { type: 'string', maxLength: 1000 } },
      },
    };
    expect((await put('summarise', prompt, { 'if-none-match': '*' })).status).toBe(201);
    let res = await call(url, 'summarise', { text: 'hello' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'prompt-not-published', state: 'draft' });

    const published = await fetch(`${truceUrl}/prompts/summarise/_transitions/publish`, { method: 'POST' });
    const v1 = published.headers.get('etag')!;
    res = await call(url, 'summarise', { text: 'hello' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      prompt: 'summarise',
      version: v1,
      output: 'echo: Summarise in one line: hello',
    });
    await until(() => calls.some((c) => c.ai?.prompt === 'summarise'));
    expect(calls.find((c) => c.ai?.prompt === 'summarise')!.ai).toMatchObject({
      promptVersion: v1,
      alias: 'gpt',
    });

    // Every input fault, with its pointer, before any model is called.
    const before = fake.requests.length;
    res = await call(url, 'summarise', { text: 7 });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'validation-failed', errors: [{ pointer: '/text' }] });
    expect(fake.requests.length).toBe(before);

    // Two editors of version 1: one edit lands, the other is told it is stale, never lost.
    const edits = await Promise.all(
      ['Summarise briefly: {{text}}', 'One line please: {{text}}'].map((template) =>
        put('summarise', { ...prompt, template, status: 'published' }, { 'if-match': v1 }),
      ),
    );
    expect(edits.map((e) => e.status).sort()).toEqual([200, 412]);
    const v2 = edits.find((e) => e.status === 200)!.headers.get('etag')!;
    // A call pinned to version 1 is refused now; pinned to version 2 it runs.
    res = await call(url, 'summarise', { text: 'x' }, { 'if-match': v1 });
    expect(res.status).toBe(412);
    expect(await res.json()).toMatchObject({ code: 'prompt-changed', yourEtag: v1, publishedEtag: v2 });
    res = await call(url, 'summarise', { text: 'x' }, { 'if-match': v2 });
    expect(res.status).toBe(200);

    await fetch(`${truceUrl}/prompts/summarise/_transitions/retire`, { method: 'POST' });
    res = await call(url, 'summarise', { text: 'x' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'prompt-not-published', state: 'retired' });
    res = await call(url, 'nothing-here', {});
    expect(res.status).toBe(404);
  });

  it('JSON output is parsed and checked against the prompt’s output schema', async () => {
    const { url } = await gateway({ state: { upstream: 'truce' } }, { truce: { targets: [truceUrl] } });
    await put(
      'title',
      {
        template: 'A title for {{text}}',
        model: 'claude',
        output: {
          type: 'json',
          schema: { type: 'object', required: ['title'], properties: { title: { type: 'string' } } },
        },
      },
      { 'if-none-match': '*' },
    );
    await fetch(`${truceUrl}/prompts/title/_transitions/publish`, { method: 'POST' });
    fake.reply('anthropic', { text: '{"title":"Hello"}' });
    let res = await call(url, 'title', { text: 'a post' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ output: { title: 'Hello' } });
    fake.reply('anthropic', { text: '{"heading":"Hello"}' });
    res = await call(url, 'title', { text: 'a post' });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'model-output-invalid', errors: [{ pointer: '/title' }] });
    fake.reply('anthropic', { text: 'Sure! Here is a title' });
    res = await call(url, 'title', { text: 'a post' });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'model-output-invalid' });
  });
});

describe('prompts as REST APIs, streamed', () => {
  let truce: FastifyInstance;
  let truceUrl: string;
  beforeAll(async () => {
    truce = await createServer(resolveConfig({ storage: 'sqlite::memory:', collections: { prompts: {} } }));
    truceUrl = await truce.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await truce.close();
  });

  async function publish(name: string, prompt: Record<string, unknown>): Promise<string> {
    const res = await fetch(`${truceUrl}/prompts/${name}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...prompt, status: 'published' }),
    });
    expect(res.status).toBe(201);
    return res.headers.get('etag')!;
  }
  const streamed = (url: string, name: string, input: unknown, accept = 'text/event-stream') =>
    fetch(`${url}/prompts/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept },
      body: JSON.stringify(input),
    });

  it('sends the answer as it is written with Accept: text/event-stream, and the whole result last', async () => {
    const { url, calls } = await gateway(
      { state: { upstream: 'truce' } },
      { truce: { targets: [truceUrl] } },
    );
    const version = await publish('haiku', { template: 'A haiku about {{topic}}', model: 'claude' });
    fake.reply('anthropic', { text: 'old pond frog jumps in', usage: { input: 12, output: 5 } });
    const res = await streamed(url, 'haiku', { topic: 'ponds' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('truce-prompt-version')).toBe(version);
    const text = await res.text();
    const blocks = text.split('\n\n').filter(Boolean);
    expect(blocks.at(-1)).toBe('data: [DONE]');
    const result = blocks.at(-2)!;
    expect(result.startsWith('event: prompt\ndata: ')).toBe(true);
    expect(JSON.parse(result.slice('event: prompt\ndata: '.length))).toEqual({
      prompt: 'haiku',
      version,
      output: 'old pond frog jumps in',
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
    });
    // Before it, the model's words as Chat Completions chunks, one piece at a time.
    const chunks = blocks
      .slice(0, -2)
      .map((b) => JSON.parse(b.slice('data: '.length)) as { choices: { delta: { content?: string } }[] });
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('')).toBe(
      'old pond frog jumps in',
    );
    await until(() => calls.length === 1);
    expect(calls[0]!.ai).toMatchObject({
      prompt: 'haiku',
      promptVersion: version,
      stream: true,
      tokensIn: 12,
    });
    expect(calls[0]!.ai!.ttftMs).toBeGreaterThan(0);

    // Accept with q=0 refuses a stream: the answer is the usual JSON.
    fake.reply('anthropic', { text: 'again' });
    const whole = await streamed(url, 'haiku', { topic: 'ponds' }, 'text/event-stream;q=0, application/json');
    expect(whole.headers.get('content-type')).toContain('application/json');
    expect(await whole.json()).toMatchObject({ output: 'again', version });
  });

  it('ends a stream whose JSON does not match the output schema with a model-output-invalid event', async () => {
    const { url, calls } = await gateway(
      { state: { upstream: 'truce' } },
      { truce: { targets: [truceUrl] } },
    );
    await publish('tags', {
      template: 'Tags for {{text}}',
      model: 'gpt',
      output: { type: 'json', schema: { type: 'object', required: ['tags'] } },
    });
    fake.reply('openai', { text: '{"labels": ["a"]}' });
    const res = await streamed(url, 'tags', { text: 'a post' });
    expect(res.status).toBe(200);
    const list = await events(res);
    expect(list.at(-1)).toMatchObject({
      error: { code: 'model-output-invalid', errors: [{ pointer: '/tags' }] },
    });
    expect(list).not.toContain('[DONE]');
    await until(() => calls.length === 1);
    expect(calls[0]).toMatchObject({ status: 200, code: 'model-output-invalid' });
    // Before the first byte, a failure is still an ordinary problem answer.
    fake.reply('openai', { status: 400, message: 'bad request' });
    const refused = await streamed(url, 'tags', { text: 'a post' });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: 'model-request-invalid' });
  });
});

describe('truce gateway with an AI route: usage in the call log and the usage report', () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  it('keys, calls, tokens and cost per consumer and model reach GET /calls and GET /analytics/usage', async () => {
    requireBuild();
    const dir = tempDir('truce-ai-');
    try {
      const file = join(dir.path, 'gateway.yaml');
      writeFileSync(
        file,
        `gateway:
  listen: 127.0.0.1:0
  admin: { listen: 127.0.0.1:0, key: "\${TRUCE_TEST_ADMIN_KEY}" }
  storage: sqlite:${join(dir.path, 'gateway.db')}
  routes:
    - name: ai
      match: { prefix: /ai }
      stripPrefix: true
      auth: key
      ai:
        providers:
          openai: { type: openai, baseUrl: ${fake.baseUrl('openai')}, key: "\${TEST_OPENAI_KEY}" }
          claude: { type: anthropic, baseUrl: ${fake.baseUrl('anthropic')}, key: "\${TEST_ANTHROPIC_KEY}" }
        models:
          fast: [openai/gpt-4o-mini]
          smart: [claude/claude-sonnet]
        prices:
          openai/gpt-4o-mini: { input: 0.15, output: 0.6 }
          claude/claude-sonnet: { input: 3, output: 15 }
`,
      );
      const adminKey = 'ai-admin-key-0123456789abcdef';
      const gw = await startGateway(file, children, {
        TRUCE_TEST_ADMIN_KEY: adminKey,
        TEST_OPENAI_KEY: SECRET.openai,
        TEST_ANTHROPIC_KEY: SECRET.anthropic,
      });
      const admin = (method: string, path: string, body?: unknown) =>
        adminCall(adminKey, gw.admin, method, path, body);
      // The route as operators see it: its providers and aliases, never a key.
      const routes = await admin('GET', '/routes');
      expect(routes.body).toMatchObject({
        items: [
          {
            name: 'ai',
            upstream: null,
            ai: {
              providers: [
                { name: 'openai', type: 'openai' },
                { name: 'claude', type: 'anthropic' },
              ],
              models: { fast: ['openai/gpt-4o-mini'], smart: ['claude/claude-sonnet'] },
              tokensPerMinute: null,
              state: null,
            },
          },
        ],
      });
      expect(JSON.stringify(routes.body)).not.toContain(SECRET.openai);
      const consumer = (await admin('POST', '/consumers', { name: 'app' })).body as { id: string };
      const { key } = (await admin('POST', `/consumers/${consumer.id}/keys`)).body as { key: string };
      const call = (model: string) =>
        fetch(`${gw.proxy}/ai/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ model, ...hello }),
        });
      fake.reply('openai', { usage: { input: 100, output: 50 } }, { usage: { input: 100, output: 50 } });
      fake.reply('anthropic', { usage: { input: 1000, output: 200 } });
      for (const model of ['fast', 'fast', 'smart']) expect((await call(model)).status).toBe(200);
      let usage: { items: Record<string, unknown>[]; totals: Record<string, number> } | undefined;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        usage = (await admin('GET', '/analytics/usage?by=consumer,model')).body as typeof usage;
        if (usage?.totals?.['calls'] === 3) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(usage!.totals).toMatchObject({ calls: 3, tokensIn: 1200, tokensOut: 300 });
      expect(usage!.totals['cost']).toBeCloseTo((200 * 0.15 + 100 * 0.6 + 1000 * 3 + 200 * 15) / 1e6, 9);
      expect(usage!.items[0]).toMatchObject({ consumer: 'app', model: 'claude-sonnet', calls: 1 });
      expect(usage!.items[1]).toMatchObject({
        consumer: 'app',
        model: 'gpt-4o-mini',
        calls: 2,
        tokensIn: 200,
      });
      const calls = (await admin('GET', '/calls?route=ai')).body as { items: { id: string; ai: unknown }[] };
      expect(calls.items[0]!.ai).toMatchObject({ alias: expect.any(String), tokensIn: expect.any(Number) });
      const one = await admin('GET', `/calls/${calls.items[0]!.id}`);
      for (const secret of Object.values(SECRET)) expect(JSON.stringify(one.body)).not.toContain(secret);
    } finally {
      dir.remove();
    }
  });
});
