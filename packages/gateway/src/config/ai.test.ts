import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { GatewayConfigError, resolveGatewayConfig } from './load.js';
import type { GatewayConfigIssue } from './types.js';

/** The `ai` block of a route: resolved with defaults, every problem at its pointer. */

const FULL = `
gateway:
  upstreams:
    truce: { targets: [http://127.0.0.1:4000] }
  routes:
    - name: ai
      match: { prefix: /ai }
      auth: key
      ai:
        providers:
          openai: { type: openai, baseUrl: https://api.openai.com/v1/, key: "\${OPENAI_API_KEY}", headers: { OpenAI-Project: p1 }, timeouts: { connect: 5s, response: 60s } }
          claude: { type: anthropic, baseUrl: https://api.anthropic.com, key: "\${ANTHROPIC_API_KEY}", version: 2023-06-01 }
          gemini: { type: gemini, baseUrl: https://generativelanguage.googleapis.com/v1beta, key: "\${GEMINI_API_KEY}" }
          local:  { type: openai, baseUrl: http://127.0.0.1:11434/v1 }
        models:
          fast: [ openai/gpt-4o-mini, claude/claude-3-5-haiku-latest ]
          smart: [ { provider: claude, model: claude-sonnet-4-5, maxTokens: 4096 }, gemini/gemini-2.5-pro ]
          llama: [ local/meta/llama-3.1:8b ]
        prices: { openai/gpt-4o-mini: { input: 0.15, output: 0.6 } }
        tokensPerMinute: 100000
        maxBody: 2mb
        state: { upstream: truce, prompts: prompts, conversations: convs, turnTimeout: 90s }
`;

const ENV = { OPENAI_API_KEY: 'sk-o', ANTHROPIC_API_KEY: 'sk-a', GEMINI_API_KEY: 'g-k' };

function yaml(text: string): unknown {
  return parseDocument(text).toJS() as unknown;
}

/** A one-route configuration with `ai` (and any other route options) as given. */
function withAi(ai: unknown, route: Record<string, unknown> = {}): unknown {
  return {
    gateway: {
      upstreams: { truce: { targets: ['http://127.0.0.1:4000'] } },
      routes: [{ name: 'ai', match: { prefix: '/ai' }, ai, ...route }],
    },
  };
}

const MINIMAL = {
  providers: { openai: { type: 'openai', baseUrl: 'https://api.openai.com/v1' } },
  models: { fast: ['openai/gpt-4o-mini'] },
};

function issues(data: unknown): GatewayConfigIssue[] {
  try {
    resolveGatewayConfig(data, { env: ENV });
  } catch (error) {
    if (error instanceof GatewayConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('the configuration resolved');
}

describe('the ai block of a route', () => {
  it('resolves a full example', () => {
    const config = resolveGatewayConfig(yaml(FULL), { env: ENV });
    const route = config.routes[0]!;
    expect(route.upstream).toBe('');
    expect(route.ai).toEqual({
      providers: new Map([
        [
          'openai',
          {
            name: 'openai',
            kind: 'openai',
            baseUrl: 'https://api.openai.com/v1',
            key: 'sk-o',
            headers: { 'openai-project': 'p1' },
            version: undefined,
            timeouts: { connectMs: 5_000, responseMs: 60_000 },
          },
        ],
        [
          'claude',
          {
            name: 'claude',
            kind: 'anthropic',
            baseUrl: 'https://api.anthropic.com',
            key: 'sk-a',
            headers: {},
            version: '2023-06-01',
            timeouts: { connectMs: 5_000, responseMs: 60_000 },
          },
        ],
        [
          'gemini',
          {
            name: 'gemini',
            kind: 'gemini',
            baseUrl: 'https://generativelanguage.googleapis.com/v1beta',
            key: 'g-k',
            headers: {},
            version: undefined,
            timeouts: { connectMs: 5_000, responseMs: 60_000 },
          },
        ],
        [
          'local',
          {
            name: 'local',
            kind: 'openai',
            baseUrl: 'http://127.0.0.1:11434/v1',
            key: undefined,
            headers: {},
            version: undefined,
            timeouts: { connectMs: 5_000, responseMs: 60_000 },
          },
        ],
      ]),
      models: new Map([
        [
          'fast',
          [
            { provider: 'openai', model: 'gpt-4o-mini', maxTokens: undefined },
            { provider: 'claude', model: 'claude-3-5-haiku-latest', maxTokens: undefined },
          ],
        ],
        [
          'smart',
          [
            { provider: 'claude', model: 'claude-sonnet-4-5', maxTokens: 4096 },
            { provider: 'gemini', model: 'gemini-2.5-pro', maxTokens: undefined },
          ],
        ],
        ['llama', [{ provider: 'local', model: 'meta/llama-3.1:8b', maxTokens: undefined }]],
      ]),
      prices: new Map([['openai/gpt-4o-mini', { input: 0.15, output: 0.6 }]]),
      tokensPerMinute: 100_000,
      maxRequestBytes: 2 * 1024 * 1024,
      state: { upstream: 'truce', prompts: 'prompts', conversations: 'convs', turnTimeoutMs: 90_000 },
    });
  });

  it('fills in defaults', () => {
    const ai = resolveGatewayConfig(withAi(MINIMAL), { env: {} }).routes[0]!.ai!;
    expect(ai.providers.get('openai')).toEqual({
      name: 'openai',
      kind: 'openai',
      baseUrl: 'https://api.openai.com/v1',
      key: undefined,
      headers: {},
      version: undefined,
      timeouts: { connectMs: 5_000, responseMs: 60_000 },
    });
    expect(ai.prices).toEqual(new Map());
    expect(ai.tokensPerMinute).toBeUndefined();
    expect(ai.maxRequestBytes).toBe(1024 * 1024);
    expect(ai.state).toBeUndefined();
    const state = resolveGatewayConfig(withAi({ ...MINIMAL, state: { upstream: 'truce' } }), { env: {} })
      .routes[0]!.ai!.state;
    expect(state).toEqual({
      upstream: 'truce',
      prompts: 'prompts',
      conversations: 'conversations',
      turnTimeoutMs: 120_000,
    });
  });

  it('allows tokensPerMinute without keys (per client address)', () => {
    const ai = resolveGatewayConfig(withAi({ ...MINIMAL, tokensPerMinute: 5000 }), { env: {} }).routes[0]!
      .ai!;
    expect(ai.tokensPerMinute).toBe(5000);
  });

  it('refuses tokensPerMinute with several workers and no shared store, and takes it with Redis', () => {
    const data = withAi({ ...MINIMAL, tokensPerMinute: 5000 });
    const gateway = (data as { gateway: Record<string, unknown> }).gateway;
    gateway['workers'] = 2;
    expect(issues(data)).toEqual([
      expect.objectContaining({
        pointer: '/gateway/routes/0/ai/tokensPerMinute',
        message: expect.stringContaining('2 workers with token budgets need a shared store'),
      }),
    ]);
    gateway['rateLimitStore'] = 'redis://127.0.0.1:6379';
    const resolved = resolveGatewayConfig(data, { env: {} });
    expect(resolved.workers).toBe(2);
    expect(resolved.routes[0]!.ai!.tokensPerMinute).toBe(5000);
  });

  it('leaves routes without ai alone', () => {
    const config = resolveGatewayConfig(
      {
        gateway: {
          upstreams: { truce: { targets: ['http://127.0.0.1:4000'] } },
          routes: [{ name: 'a', match: { prefix: '/' }, upstream: 'truce' }],
        },
      },
      { env: {} },
    );
    expect(config.routes[0]!.ai).toBeUndefined();
    expect(config.routes[0]!.upstream).toBe('truce');
  });

  it('reports a model naming an undeclared provider at the entry', () => {
    expect(
      issues(
        withAi({
          ...MINIMAL,
          models: { fast: ['openai/gpt-4o-mini', 'claude/x'], smart: [{ provider: 'nope', model: 'm' }] },
        }),
      ),
    ).toEqual([
      {
        pointer: '/gateway/routes/0/ai/models/fast/1',
        message: 'there is no provider "claude" (providers: openai)',
      },
      {
        pointer: '/gateway/routes/0/ai/models/smart/0/provider',
        message: 'there is no provider "nope" (providers: openai)',
      },
    ]);
  });

  it('reports bad base URLs', () => {
    const bad = (baseUrl: string) =>
      issues(withAi({ ...MINIMAL, providers: { openai: { type: 'openai', baseUrl } } })).map(
        (i) => i.pointer,
      );
    const pointer = '/gateway/routes/0/ai/providers/openai/baseUrl';
    expect(bad('ftp://example.com')).toEqual([pointer]);
    expect(bad('https://example.com/v1?x=1')).toEqual([pointer]);
    expect(bad('https://example.com/v1#x')).toEqual([pointer]);
    expect(bad('https://user:pw@example.com/v1')).toEqual([pointer]);
    expect(bad('https://exa mple.com')).toEqual([pointer]);
  });

  it('reports a state upstream that does not exist', () => {
    expect(issues(withAi({ ...MINIMAL, state: { upstream: 'nope' } }))).toEqual([
      {
        pointer: '/gateway/routes/0/ai/state/upstream',
        message: 'there is no upstream "nope" (upstreams: truce)',
      },
    ]);
    expect(issues(withAi({ ...MINIMAL, state: { upstream: 'truce', prompts: 'a/b' } }))[0]?.pointer).toBe(
      '/gateway/routes/0/ai/state/prompts',
    );
  });

  it('refuses headers the gateway sets or that belong to a connection', () => {
    for (const header of [
      'Authorization',
      'x-api-key',
      'X-Goog-Api-Key',
      'host',
      'content-length',
      'Connection',
    ]) {
      const found = issues(
        withAi({
          ...MINIMAL,
          providers: { openai: { type: 'openai', baseUrl: 'https://x.test', headers: { [header]: 'v' } } },
        }),
      );
      expect(found.map((i) => i.pointer)).toEqual([
        `/gateway/routes/0/ai/providers/openai/headers/${header}`,
      ]);
    }
    const found = issues(
      withAi({
        ...MINIMAL,
        providers: { openai: { type: 'openai', baseUrl: 'https://x.test', headers: { 'bad header': 'v' } } },
      }),
    );
    expect(found).toEqual([
      {
        pointer: '/gateway/routes/0/ai/providers/openai/headers/bad header',
        message: '"bad header" is not a header name',
      },
    ]);
  });

  it('refuses version on providers other than anthropic', () => {
    expect(
      issues(
        withAi({
          ...MINIMAL,
          providers: { openai: { type: 'openai', baseUrl: 'https://x.test', version: '1' } },
        }),
      ).map((i) => i.pointer),
    ).toEqual(['/gateway/routes/0/ai/providers/openai/version']);
  });

  it('reports a bad alias name', () => {
    expect(
      issues(withAi({ ...MINIMAL, models: { '-fast': ['openai/gpt-4o-mini'] } })).map((i) => i.pointer),
    ).toEqual(['/gateway/routes/0/ai/models/-fast']);
  });

  it('reports an empty model list and an empty models block', () => {
    expect(issues(withAi({ ...MINIMAL, models: { fast: [] } }))).toEqual([
      { pointer: '/gateway/routes/0/ai/models/fast', message: 'must NOT have fewer than 1 items' },
    ]);
    expect(issues(withAi({ ...MINIMAL, models: {} })).map((i) => i.pointer)).toEqual([
      '/gateway/routes/0/ai/models',
    ]);
    expect(issues(withAi({ ...MINIMAL, models: { fast: ['gpt-4o'] } }))).toEqual([
      { pointer: '/gateway/routes/0/ai/models/fast/0', message: 'must be provider/model' },
    ]);
  });

  it('reports a price for an undeclared provider', () => {
    expect(issues(withAi({ ...MINIMAL, prices: { 'claude/x': { input: 1, output: 2 } } }))).toEqual([
      {
        pointer: '/gateway/routes/0/ai/prices/claude~1x',
        message: 'there is no provider "claude" (providers: openai)',
      },
    ]);
    expect(
      issues(withAi({ ...MINIMAL, prices: { 'openai/x': { input: -1, output: 2 } } })).map((i) => i.pointer),
    ).toEqual(['/gateway/routes/0/ai/prices/openai~1x/input']);
  });

  it('refuses unknown options', () => {
    expect(issues(withAi({ ...MINIMAL, extra: 1 }))).toEqual([
      { pointer: '/gateway/routes/0/ai', message: 'unknown option "extra"' },
    ]);
    expect(
      issues(
        withAi({ ...MINIMAL, providers: { openai: { type: 'mistral', baseUrl: 'https://x.test' } } }),
      ).map((i) => i.pointer),
    ).toEqual(['/gateway/routes/0/ai/providers/openai/type']);
  });

  it('still requires an upstream on routes without ai, and refuses one on AI routes', () => {
    expect(
      issues({
        gateway: {
          upstreams: { truce: { targets: ['http://127.0.0.1:4000'] } },
          routes: [{ name: 'a', match: { prefix: '/' } }],
        },
      }),
    ).toEqual([{ pointer: '/gateway/routes/0/upstream', message: 'is required' }]);
    expect(issues(withAi(MINIMAL, { upstream: 'truce' }))).toEqual([
      {
        pointer: '/gateway/routes/0/upstream',
        message: 'an AI route is answered by its providers; remove upstream',
      },
    ]);
  });
});
