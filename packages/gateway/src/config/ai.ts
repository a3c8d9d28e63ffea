/**
 * The `ai` block of a route (docs/ai.md, docs/gateway.md): model providers, the aliases clients
 * name, prices, token limits and where prompts and conversations live. The JSON Schema has checked
 * the shape; this fills in defaults and checks what the schema cannot say, reporting each problem
 * with its JSON Pointer.
 */

import type { AiConfig, ModelTarget, Price, ProviderConfig, ProviderKind } from '../ai/types.js';
import { parseDuration, parseSize } from './units.js';

/** The shape the schema guarantees for an `ai` block. */
export interface AiInput {
  providers: Record<string, ProviderInput>;
  models: Record<string, ModelInput[]>;
  prices?: Record<string, { input: number; output: number }>;
  tokensPerMinute?: number;
  maxBody?: string | number;
  state?: { upstream: string; prompts?: string; conversations?: string; turnTimeout?: string };
}
interface ProviderInput {
  type: ProviderKind;
  baseUrl: string;
  key?: string;
  headers?: Record<string, string>;
  version?: string;
  timeouts?: { connect?: string; response?: string };
}
type ModelInput = string | { provider: string; model: string; maxTokens?: number };

export const AI_DEFAULTS = {
  connectMs: 5_000,
  responseMs: 60_000,
  maxRequestBytes: 1024 * 1024,
  prompts: 'prompts',
  conversations: 'conversations',
  turnTimeoutMs: 120_000,
} as const;

const PROVIDER_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/;
const ALIAS = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Headers the gateway sets itself, or that belong to one connection only. */
const RESERVED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'authorization',
  'x-api-key',
  'x-goog-api-key',
  'host',
  'content-length',
]);

/** A key as one JSON Pointer segment. */
function segment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Resolves a route's `ai` block. `pointer` is the block's pointer below `/gateway`
 * (`/routes/0/ai`); `upstreams` the declared upstream names, for `state.upstream`.
 */
export function resolveAi(
  input: AiInput,
  pointer: string,
  upstreams: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  at: (pointer: string) => (message: string) => void,
): AiConfig {
  const providers = new Map<string, ProviderConfig>();
  for (const [name, p] of Object.entries(input.providers)) {
    providers.set(name, resolveProvider(name, p, `${pointer}/providers/${segment(name)}`, at));
  }
  const declared = () => [...providers.keys()].join(', ');

  const models = new Map<string, readonly ModelTarget[]>();
  for (const [alias, list] of Object.entries(input.models)) {
    const here = `${pointer}/models/${segment(alias)}`;
    if (!ALIAS.test(alias)) {
      at(here)(
        `"${alias}" is not an alias name: a letter or digit, then up to 63 letters, digits, ".", "_", ":" or "-"`,
      );
    }
    const targets = list.map((entry, i): ModelTarget => {
      const target =
        typeof entry === 'string'
          ? { provider: entry.slice(0, entry.indexOf('/')), model: entry.slice(entry.indexOf('/') + 1) }
          : { provider: entry.provider, model: entry.model };
      if (!providers.has(target.provider)) {
        at(typeof entry === 'string' ? `${here}/${i}` : `${here}/${i}/provider`)(
          `there is no provider "${target.provider}" (providers: ${declared()})`,
        );
      }
      return { ...target, maxTokens: typeof entry === 'string' ? undefined : entry.maxTokens };
    });
    models.set(alias, targets);
  }

  const prices = new Map<string, Price>();
  for (const [key, price] of Object.entries(input.prices ?? {})) {
    const slash = key.indexOf('/');
    const provider = slash < 0 ? '' : key.slice(0, slash);
    const here = `${pointer}/prices/${segment(key)}`;
    if (slash <= 0 || slash === key.length - 1) at(here)(`"${key}" is not provider/model`);
    else if (!providers.has(provider))
      at(here)(`there is no provider "${provider}" (providers: ${declared()})`);
    prices.set(key, { input: price.input, output: price.output });
  }

  const maxRequestBytes = parseSize(input.maxBody) ?? AI_DEFAULTS.maxRequestBytes;
  if (maxRequestBytes === 0) at(`${pointer}/maxBody`)('must be above 0');

  let state: AiConfig['state'];
  if (input.state) {
    const s = input.state;
    if (!upstreams.has(s.upstream)) {
      at(`${pointer}/state/upstream`)(
        `there is no upstream "${s.upstream}" (upstreams: ${[...upstreams.keys()].join(', ') || 'none'})`,
      );
    }
    const turnTimeoutMs = parseDuration(s.turnTimeout) ?? AI_DEFAULTS.turnTimeoutMs;
    if (turnTimeoutMs <= 0) at(`${pointer}/state/turnTimeout`)('must be above 0');
    state = {
      upstream: s.upstream,
      prompts: s.prompts ?? AI_DEFAULTS.prompts,
      conversations: s.conversations ?? AI_DEFAULTS.conversations,
      turnTimeoutMs,
    };
  }

  return {
    providers,
    models,
    prices,
    tokensPerMinute: input.tokensPerMinute,
    maxRequestBytes,
    state,
  };
}

function resolveProvider(
  name: string,
  p: ProviderInput,
  pointer: string,
  at: (pointer: string) => (message: string) => void,
): ProviderConfig {
  if (!PROVIDER_NAME.test(name)) {
    at(pointer)(
      `"${name}" is not a provider name: a letter, then up to 62 letters, digits, ".", "_" or "-" (no "/")`,
    );
  }

  let baseUrl = p.baseUrl;
  let parsed: URL | undefined;
  try {
    parsed = new URL(p.baseUrl);
  } catch {
    at(`${pointer}/baseUrl`)(`"${p.baseUrl}" is not a URL`);
  }
  if (parsed) {
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      at(`${pointer}/baseUrl`)('must be an http:// or https:// URL');
    } else if (parsed.username || parsed.password || /[?#]/.test(p.baseUrl)) {
      at(`${pointer}/baseUrl`)(
        'is scheme://host[:port] with an optional path, no query, fragment or credentials (the key goes in key)',
      );
    }
    baseUrl = parsed.origin + parsed.pathname.replace(/\/+$/, '');
  }

  const headers = new Map<string, string>();
  for (const [header, value] of Object.entries(p.headers ?? {})) {
    const here = `${pointer}/headers/${segment(header)}`;
    const lower = header.toLowerCase();
    if (!TOKEN.test(header)) at(here)(`"${header}" is not a header name`);
    else if (RESERVED_HEADERS.has(lower)) {
      at(here)(
        `${lower} is set by the gateway or belongs to one connection; it cannot be configured (the key goes in key)`,
      );
    } else if (lower === 'anthropic-version') at(here)('set version instead');
    else if (headers.has(lower)) at(here)(`${lower} is given twice`);
    if (!HEADER_VALUE.test(value)) at(here)('is not a header value: no line breaks or control characters');
    headers.set(lower, value);
  }

  if (p.version !== undefined && p.type !== 'anthropic') {
    at(`${pointer}/version`)('is the anthropic-version header; only anthropic providers take it');
  }

  const timeout = (field: 'connect' | 'response', fallback: number) => {
    const ms = parseDuration(p.timeouts?.[field]) ?? fallback;
    if (ms <= 0) at(`${pointer}/timeouts/${field}`)('must be above 0');
    return ms;
  };
  return {
    name,
    kind: p.type,
    baseUrl,
    key: p.key === undefined || p.key === '' ? undefined : p.key,
    headers: Object.fromEntries(headers),
    version: p.version,
    timeouts: {
      connectMs: timeout('connect', AI_DEFAULTS.connectMs),
      responseMs: timeout('response', AI_DEFAULTS.responseMs),
    },
  };
}
