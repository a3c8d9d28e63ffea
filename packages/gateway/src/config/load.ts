import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, extname, resolve } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import schema from './gateway-config.schema.json' with { type: 'json' };
import { originIssue } from '@truce/protocol';
import { type AiInput, resolveAi } from './ai.js';
import { substituteEnv } from './env.js';
import type {
  AlertConfig,
  GatewayConfig,
  GatewayConfigIssue,
  ListenAddress,
  RouteConfig,
  TargetConfig,
  UpstreamConfig,
} from './types.js';
import { parseDuration, parseInstant, parseSize } from './units.js';

/** The JSON Schema of the `gateway:` block (also shipped as `@truce/gateway/config-schema.json`). */
export const gatewayConfigSchema: object = schema;

/** Thrown when a gateway configuration cannot be used; `issues` has every problem with its path. */
export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
  constructor(
    message: string,
    readonly issues: readonly GatewayConfigIssue[],
    readonly file?: string,
  ) {
    super(message);
  }
}

const validateShape = new Ajv2020({ allErrors: true, strict: false, logger: false }).compile(schema);

/** SPEC 5.6 defaults. */
const DEFAULTS = {
  listen: '127.0.0.1:8080',
  adminListen: '127.0.0.1:8081',
  storage: 'sqlite:./data/gateway.db',
  bodies: 4 * 1024,
  redactHeaders: ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization'],
  callsMs: 7 * 86_400_000,
  rollupsMs: 90 * 86_400_000,
  maxCalls: 1_000_000,
  maxBody: 10 * 1024 * 1024,
  healthCheck: { path: '/', intervalMs: 5_000, timeoutMs: 1_000, healthy: 2, unhealthy: 2 },
  passive: { failures: 3, ejectForMs: 30_000 },
  timeouts: { connectMs: 2_000, responseMs: 30_000 },
  retries: 1,
  resourceKey: '/{collection}/{id}',
  alertWindowMs: 60_000,
  alertMinSamples: 20,
} as const;

/** Options of {@link loadGatewayConfig} and {@link resolveGatewayConfig}. */
export interface GatewayConfigOptions {
  readonly file?: string;
  readonly baseDir?: string;
  /** Variables for `${NAME}`; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Whether a parsed configuration file has a `gateway:` block. */
export function hasGatewayBlock(data: unknown): boolean {
  return data !== null && typeof data === 'object' && 'gateway' in data;
}

/** Reads a configuration file (YAML or JSON) and resolves its `gateway:` block. */
export function loadGatewayConfig(
  file: string,
  options: Omit<GatewayConfigOptions, 'file'> = {},
): GatewayConfig {
  const path = resolve(file);
  return resolveGatewayConfig(readConfigData(path), { baseDir: dirname(path), ...options, file: path });
}

/** The parsed document of a configuration file; a {@link GatewayConfigError} when it cannot be read. */
export function readConfigData(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new GatewayConfigError(`cannot read configuration ${path}: ${reason}`, [], path);
  }
  if (extname(path) === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new GatewayConfigError(`${path} is not valid JSON: ${(error as Error).message}`, [], path);
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => ({ pointer: '', message: e.message }));
    throw new GatewayConfigError(`${path} is not valid YAML`, issues, path);
  }
  return doc.toJS() as unknown;
}

/**
 * Validates the `gateway:` block of a parsed configuration document and fills in defaults. Every
 * problem is reported at once, each with its JSON Pointer from the document's root.
 */
export function resolveGatewayConfig(data: unknown, options: GatewayConfigOptions = {}): GatewayConfig {
  const where = options.file ?? 'configuration';
  if (!hasGatewayBlock(data)) {
    throw new GatewayConfigError(`${where} has no gateway block`, [
      { pointer: '/gateway', message: 'is missing: the gateway reads its settings from gateway:' },
    ]);
  }
  const substituted = substituteEnv(
    (data as { gateway: unknown }).gateway,
    options.env ?? process.env,
    '/gateway',
  );
  const issues: GatewayConfigIssue[] = substituted.unset.map((u) => ({
    pointer: u.pointer,
    message: `names the environment variable ${u.name}, which is not set (write \${${u.name}:-default} for a default)`,
  }));
  const input = substituted.value;
  if (!validateShape(input)) {
    // An if/then failure repeats the `required` error it comes with.
    for (const e of validateShape.errors ?? []) if (e.keyword !== 'if') issues.push(ajvIssue(e));
  }
  if (issues.length > 0) throw new GatewayConfigError(`${where} is invalid`, dedupe(issues), options.file);
  const config = resolveValid(input as Input, options.baseDir ?? process.cwd(), issues);
  if (issues.length > 0) throw new GatewayConfigError(`${where} is invalid`, issues, options.file);
  return config;
}

// The shape the schema guarantees once it validated.
interface Input {
  listen?: string;
  admin?: { listen?: string; key: string };
  storage?: string;
  rateLimitStore?: string;
  workers?: number | 'auto';
  cors?: { origins: string[]; maxAge?: number | string };
  log?: {
    bodies?: string | number;
    redact?: { headers?: string[]; pointers?: string[] };
    retention?: { calls?: string; rollups?: string; maxCalls?: number };
  };
  upstreams?: Record<string, UpstreamInput>;
  routes: RouteInput[];
  alerts?: AlertInput[];
}
interface UpstreamInput {
  targets: (string | { url: string; weight?: number })[];
  balance?: 'round-robin' | 'least-connections';
  healthCheck?: { path?: string; interval?: string; timeout?: string; healthy?: number; unhealthy?: number };
  passive?: { failures?: number; ejectFor?: string };
  timeouts?: { connect?: string; response?: string };
  retries?: number;
}
interface RouteInput {
  name: string;
  match: { prefix: string; host?: string; methods?: string[] };
  stripPrefix?: boolean;
  /** Required unless `ai` is given (the schema's if/then). */
  upstream?: string;
  auth?: 'none' | 'key';
  subscription?: 'open' | 'approval';
  rateLimit?: { limit: number; window: string; by?: 'consumer' | 'ip' };
  requirePreconditions?: 'off' | 'warn' | 'enforce';
  resourceKey?: string;
  maxBody?: string | number;
  lifecycle?: { deprecated?: unknown; sunset?: unknown; link?: string };
  ai?: AiInput;
}
interface AlertInput {
  name: string;
  metric: AlertConfig['metric'];
  route?: string;
  window?: string;
  minSamples?: number;
  above: number;
  webhook?: string;
}

function resolveValid(input: Input, baseDir: string, issues: GatewayConfigIssue[]): GatewayConfig {
  const at = (pointer: string) => (message: string) =>
    issues.push({ pointer: `/gateway${pointer}`, message });
  const listen = listenAddress(input.listen ?? DEFAULTS.listen, at('/listen'));
  const admin = input.admin
    ? {
        listen: listenAddress(input.admin.listen ?? DEFAULTS.adminListen, at('/admin/listen')),
        key: input.admin.key,
      }
    : undefined;
  if (admin && admin.listen.host === listen.host && admin.listen.port === listen.port && listen.port !== 0) {
    at('/admin/listen')('is the same address as the proxy; the admin API needs a port of its own');
  }

  const upstreams = new Map<string, UpstreamConfig>();
  for (const [name, u] of Object.entries(input.upstreams ?? {})) {
    upstreams.set(name, resolveUpstream(name, u, `/upstreams/${name}`, at));
  }

  const routes: RouteConfig[] = [];
  const names = new Set<string>();
  const matches = new Map<string, number>();
  input.routes.forEach((r, i) => {
    const route = resolveRoute(r, `/routes/${i}`, upstreams, at);
    if (names.has(route.name)) at(`/routes/${i}/name`)(`another route is named "${route.name}"`);
    names.add(route.name);
    if (route.ai && r.upstream !== undefined) {
      at(`/routes/${i}/upstream`)('an AI route is answered by its providers; remove upstream');
    } else if (!route.ai && !upstreams.has(route.upstream)) {
      at(`/routes/${i}/upstream`)(
        `there is no upstream "${route.upstream}" (upstreams: ${[...upstreams.keys()].join(', ') || 'none'})`,
      );
    }
    if (route.subscription === 'approval' && route.auth !== 'key') {
      at(`/routes/${i}/subscription`)('approval needs auth: key (a subscription belongs to a consumer)');
    }
    if (route.rateLimit?.by === 'consumer' && route.auth !== 'key') {
      at(`/routes/${i}/rateLimit/by`)('consumer needs auth: key; use by: ip on routes without keys');
    }
    const key = `${route.host ?? ''} ${route.prefix}`;
    const twin = matches.get(key);
    if (twin !== undefined) at(`/routes/${i}/match`)(`matches exactly what route ${twin} matches`);
    matches.set(key, i);
    routes.push(route);
  });

  const alerts = (input.alerts ?? []).map((a, i): AlertConfig => {
    if (a.route !== undefined && !names.has(a.route))
      at(`/alerts/${i}/route`)(`there is no route "${a.route}"`);
    if ((a.metric === 'conflict-rate' || a.metric === 'error-rate') && a.above > 1) {
      at(`/alerts/${i}/above`)('a rate is a fraction from 0 to 1');
    }
    return {
      name: a.name,
      metric: a.metric,
      route: a.route,
      windowMs: parseDuration(a.window) ?? DEFAULTS.alertWindowMs,
      minSamples: a.minSamples ?? DEFAULTS.alertMinSamples,
      above: a.above,
      webhook: a.webhook,
    };
  });
  const alertNames = new Set<string>();
  alerts.forEach((a, i) => {
    if (alertNames.has(a.name)) at(`/alerts/${i}/name`)(`another alert is named "${a.name}"`);
    alertNames.add(a.name);
  });

  const log = input.log ?? {};
  const workers = input.workers === 'auto' ? availableParallelism() : (input.workers ?? 1);
  const rateLimitStore = input.rateLimitStore ?? 'memory';
  if (workers > 1 && rateLimitStore === 'memory' && routes.some((r) => r.rateLimit)) {
    at('/rateLimitStore')(
      `${workers} workers with rate limits need a shared store (redis://...): a memory limiter per worker would allow ${workers} times the limit`,
    );
  }
  if (workers > 1 && rateLimitStore === 'memory') {
    routes.forEach((r, i) => {
      if (r.ai?.tokensPerMinute !== undefined) {
        at(`/routes/${i}/ai/tokensPerMinute`)(
          `${workers} workers with token budgets need a shared store (rateLimitStore: redis://...): a budget kept in each worker would allow ${workers} times the tokens`,
        );
      }
    });
  }
  let cors: GatewayConfig['cors'];
  if (input.cors) {
    input.cors.origins.forEach((origin, i) => {
      const issue = originIssue(origin);
      if (issue) at(`/cors/origins/${i}`)(issue);
    });
    const raw = input.cors.maxAge;
    const maxAgeMs = raw === undefined ? 600_000 : typeof raw === 'number' ? raw * 1000 : parseDuration(raw);
    if (maxAgeMs === undefined || maxAgeMs < 0 || maxAgeMs > 86_400_000)
      at('/cors/maxAge')('is a duration (10m) or seconds, at most 1d');
    cors = { origins: new Set(input.cors.origins), maxAgeSeconds: Math.floor((maxAgeMs ?? 0) / 1000) };
  }
  return {
    listen,
    admin,
    storage: input.storage ?? DEFAULTS.storage,
    rateLimitStore,
    workers,
    cors,
    log: {
      bodies: parseSize(log.bodies) ?? DEFAULTS.bodies,
      redactHeaders: (log.redact?.headers ?? DEFAULTS.redactHeaders).map((h) => h.toLowerCase()),
      redactPointers: log.redact?.pointers ?? [],
      retention: {
        callsMs: parseDuration(log.retention?.calls) ?? DEFAULTS.callsMs,
        rollupsMs: parseDuration(log.retention?.rollups) ?? DEFAULTS.rollupsMs,
        maxCalls: log.retention?.maxCalls ?? DEFAULTS.maxCalls,
      },
    },
    upstreams,
    routes,
    alerts,
    baseDir,
  };
}

function resolveUpstream(
  name: string,
  u: UpstreamInput,
  pointer: string,
  at: (pointer: string) => (message: string) => void,
): UpstreamConfig {
  const targets = u.targets.map((t, i): TargetConfig => {
    const url = typeof t === 'string' ? t : t.url;
    const weight = typeof t === 'string' ? 1 : (t.weight ?? 1);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      at(`${pointer}/targets/${i}`)(`"${url}" is not a URL`);
    }
    if (parsed && (parsed.search || parsed.hash || parsed.username)) {
      at(`${pointer}/targets/${i}`)(
        'a target is scheme://host:port with an optional path, no query, fragment or credentials',
      );
    }
    return {
      origin: parsed?.origin ?? url,
      basePath: parsed ? parsed.pathname.replace(/\/+$/, '') : '',
      weight,
    };
  });
  const hc = u.healthCheck;
  const healthCheck = hc
    ? {
        path: hc.path ?? DEFAULTS.healthCheck.path,
        intervalMs: parseDuration(hc.interval) ?? DEFAULTS.healthCheck.intervalMs,
        timeoutMs: parseDuration(hc.timeout) ?? DEFAULTS.healthCheck.timeoutMs,
        healthy: hc.healthy ?? DEFAULTS.healthCheck.healthy,
        unhealthy: hc.unhealthy ?? DEFAULTS.healthCheck.unhealthy,
      }
    : undefined;
  if (healthCheck && healthCheck.intervalMs < 100)
    at(`${pointer}/healthCheck/interval`)('must be at least 100ms');
  return {
    name,
    targets,
    balance: u.balance ?? 'round-robin',
    healthCheck,
    passive: {
      failures: u.passive?.failures ?? DEFAULTS.passive.failures,
      ejectForMs: parseDuration(u.passive?.ejectFor) ?? DEFAULTS.passive.ejectForMs,
    },
    timeouts: {
      connectMs: parseDuration(u.timeouts?.connect) ?? DEFAULTS.timeouts.connectMs,
      responseMs: parseDuration(u.timeouts?.response) ?? DEFAULTS.timeouts.responseMs,
    },
    retries: u.retries ?? DEFAULTS.retries,
  };
}

function resolveRoute(
  r: RouteInput,
  pointer: string,
  upstreams: ReadonlyMap<string, UpstreamConfig>,
  at: (pointer: string) => (message: string) => void,
): RouteConfig {
  const prefix = r.match.prefix.replace(/\/+$/, '');
  if (/(^|\/)\.\.?(\/|$)|%|\/\//.test(r.match.prefix)) {
    at(`${pointer}/match/prefix`)(
      'must be a plain path: no dot segments, percent-encoding or empty segments',
    );
  }
  let lifecycle: RouteConfig['lifecycle'];
  if (r.lifecycle) {
    const date = (field: 'deprecated' | 'sunset') => {
      const value = r.lifecycle?.[field];
      if (value === undefined) return undefined;
      const ms = parseInstant(value);
      if (ms === undefined)
        at(`${pointer}/lifecycle/${field}`)('must be an ISO 8601 date (2027-01-01) or date-time');
      return ms;
    };
    lifecycle = { deprecated: date('deprecated'), sunset: date('sunset'), link: r.lifecycle.link };
    if (
      lifecycle.deprecated !== undefined &&
      lifecycle.sunset !== undefined &&
      lifecycle.sunset < lifecycle.deprecated
    ) {
      at(`${pointer}/lifecycle/sunset`)('comes before the deprecation date');
    }
  }
  const resourceKey = r.resourceKey ?? DEFAULTS.resourceKey;
  for (const name of resourceKey.matchAll(/\{([^}]*)\}/g)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name[1]!)) {
      at(`${pointer}/resourceKey`)(`"{${name[1]}}" is not a placeholder name`);
    }
  }
  return {
    name: r.name,
    prefix,
    host: r.match.host?.toLowerCase().replace(/:\d+$/, ''),
    methods: r.match.methods?.map((m) => m.toUpperCase()),
    stripPrefix: r.stripPrefix ?? false,
    // '' on AI routes, which have no upstream (the schema requires one on every other route).
    upstream: r.upstream ?? '',
    auth: r.auth ?? 'none',
    subscription: r.subscription ?? 'open',
    rateLimit: r.rateLimit
      ? {
          limit: r.rateLimit.limit,
          windowMs: parseDuration(r.rateLimit.window)!,
          by: r.rateLimit.by ?? 'consumer',
        }
      : undefined,
    requirePreconditions: r.requirePreconditions ?? 'off',
    resourceKey,
    maxBody: parseSize(r.maxBody) ?? DEFAULTS.maxBody,
    lifecycle,
    ai: r.ai ? resolveAi(r.ai, `${pointer}/ai`, upstreams, at) : undefined,
  };
}

function listenAddress(text: string, report: (message: string) => void): ListenAddress {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    report(`"${text}" is not host:port with a port 0-65535`);
    return { host: '127.0.0.1', port: 0 };
  }
  return { host: match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!, port };
}

function ajvIssue(e: ErrorObject): GatewayConfigIssue {
  const pointer = `/gateway${e.instancePath}`;
  switch (e.keyword) {
    case 'required':
      return { pointer: `${pointer}/${String(e.params['missingProperty'])}`, message: 'is required' };
    case 'additionalProperties':
      return { pointer, message: `unknown option "${String(e.params['additionalProperty'])}"` };
    case 'enum':
      return { pointer, message: `must be one of ${JSON.stringify(e.params['allowedValues'])}` };
    case 'pattern':
      return { pointer, message: patternMessage(e.schemaPath) };
    default:
      return { pointer, message: e.message ?? e.keyword };
  }
}

/** Patterns the schema uses, said in words. */
function patternMessage(schemaPath: string): string {
  if (schemaPath.includes('duration')) return 'must be a duration: 500ms, 30s, 5m, 1h or 7d';
  if (schemaPath.includes('size')) return 'must be a size: 512b, 4kb, 1mb (binary) or a number of bytes';
  if (schemaPath.includes('listen')) return 'must be host:port';
  if (schemaPath.includes('target')) return 'must be an http:// or https:// URL';
  if (schemaPath.includes('aiModel')) return 'must be provider/model';
  if (schemaPath.includes('aiProvider')) return 'must be an http:// or https:// URL';
  if (schemaPath.includes('state')) return 'must be a collection name: letters, digits, "_" or "-"';
  return 'has the wrong form';
}

/** oneOf errors repeat a pointer with each alternative's complaint; keep the first per pointer. */
function dedupe(issues: GatewayConfigIssue[]): GatewayConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    if (seen.has(i.pointer)) return false;
    seen.add(i.pointer);
    return true;
  });
}
