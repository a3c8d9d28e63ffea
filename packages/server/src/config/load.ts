import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { compileMergePolicy, originIssue } from '@truce/protocol';
import { parseDocument } from 'yaml';
import configSchema from './truce-config.schema.json' with { type: 'json' };
import { durationMs } from './duration.js';
import type {
  CollectionConfig,
  CollectionConfigInput,
  ConfigIssue,
  StateMachine,
  Transition,
  TruceConfig,
  Timeouts,
  TruceConfigInput,
} from './types.js';
import type { JsonObject } from '../store/types.js';

export const DEFAULT_LISTEN = '127.0.0.1:4000';
export const DEFAULT_STORAGE = 'sqlite:./data/truce.db';
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_HISTORY_KEEP = 100;
/** Seconds a browser may reuse a preflight answer: short enough that removing an origin takes effect soon. */
export const DEFAULT_CORS_MAX_AGE = 600;
/** Default connection timeouts, in milliseconds. */
export const DEFAULT_TIMEOUTS: Timeouts = {
  requestMs: 30_000,
  bodyIdleMs: 10_000,
  keepAliveMs: 5_000,
  drainMs: 10_000,
};

/** Thrown when a configuration cannot be used; `issues` lists every problem found, each with its path. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[],
    readonly file?: string,
  ) {
    super(message);
  }
}

/** The JSON Schema every configuration file is validated against (also shipped as `@truce/server/config-schema.json`). */
export const truceConfigSchema: JsonObject = configSchema as JsonObject;

// Formats are checked when documents are validated; here they would only print warnings.
const ajv = new Ajv2020({ allErrors: true, strict: false, logger: false });
const validateShape = ajv.compile(configSchema);

/** Overrides from the command line, applied after validation of the file. */
export interface ConfigOverrides {
  readonly listen?: string | undefined;
  readonly storage?: string | undefined;
}

/**
 * Reads, parses and validates a configuration file (YAML or JSON, by extension; YAML is a superset
 * of JSON so anything else is read as YAML). Throws {@link ConfigError} with every problem.
 */
export function loadConfigFile(file: string, overrides: ConfigOverrides = {}): TruceConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new ConfigError(`cannot read configuration ${path}: ${reason}`, [], path);
  }
  return parseConfigText(text, {
    file: path,
    format: extname(path) === '.json' ? 'json' : 'yaml',
    overrides,
  });
}

/** Parses configuration text; see {@link loadConfigFile}. */
export function parseConfigText(
  text: string,
  options: { file?: string; format?: 'json' | 'yaml'; overrides?: ConfigOverrides; baseDir?: string } = {},
): TruceConfig {
  const where = options.file ?? 'configuration';
  let data: unknown;
  if (options.format === 'json') {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`${where} is not valid JSON: ${(error as Error).message}`, [], options.file);
    }
  } else {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const issues = doc.errors.map((e) => ({ pointer: '', message: e.message }));
      throw new ConfigError(`${where} is not valid YAML`, issues, options.file);
    }
    data = doc.toJS();
  }
  const baseDir = options.baseDir ?? (options.file ? dirname(options.file) : process.cwd());
  return resolveConfig(data, { ...options, baseDir });
}

/** Validates an already-parsed configuration object and fills in defaults. */
export function resolveConfig(
  data: unknown,
  options: { file?: string; overrides?: ConfigOverrides; baseDir?: string } = {},
): TruceConfig {
  const where = options.file ?? 'configuration';
  const shapeValid = validateShape(data);
  // Every problem in one report: shape errors first, then the value checks that can still run.
  const issues: ConfigIssue[] = shapeValid
    ? []
    : (validateShape.errors ?? []).map((e) => ({
        pointer:
          e.keyword === 'required'
            ? `${e.instancePath}/${String(e.params['missingProperty'])}`
            : e.instancePath,
        message: describeAjvError(e),
      }));
  const input = (data ?? {}) as TruceConfigInput;

  const listenText = options.overrides?.listen ?? text(input.listen) ?? DEFAULT_LISTEN;
  const listen = parseListen(listenText);
  if (!listen && !issues.some((i) => i.pointer === '/listen')) {
    issues.push({ pointer: '/listen', message: `"${listenText}" is not host:port with a port 0-65535` });
  }

  const storageOverridden = options.overrides?.storage !== undefined;
  const storage = options.overrides?.storage ?? text(input.storage) ?? DEFAULT_STORAGE;
  const storageIssue = checkStorage(storage);
  if (storageIssue !== undefined && !issues.some((i) => i.pointer === '/storage')) {
    issues.push({ pointer: '/storage', message: storageIssue });
  }

  const corsOrigins = Array.isArray(input.cors?.origins) ? input.cors.origins : [];
  corsOrigins.forEach((origin, i) => {
    const issue = typeof origin === 'string' ? originIssue(origin) : undefined;
    if (issue !== undefined && !issues.some((x) => x.pointer === `/cors/origins/${i}`))
      issues.push({ pointer: `/cors/origins/${i}`, message: issue });
  });
  const timeouts = resolveTimeouts(input, issues);
  const postgres = resolvePostgres(input, issues);

  const collections = new Map<string, CollectionConfig>();
  if (shapeValid) {
    for (const [name, c] of Object.entries(input.collections)) {
      const at = `/collections/${escape(name)}`;
      collections.set(name, resolveCollection(name, c, at, input, issues));
    }
  }
  if (issues.length > 0 || !listen) throw new ConfigError(`${where} is invalid`, issues, options.file);

  const actorHeaderName = input.actorHeader ?? 'Truce-Actor';
  return {
    listen,
    storage,
    durability: input.durability ?? 'normal',
    postgres,
    actorHeader: actorHeaderName.toLowerCase(),
    actorHeaderName,
    bodyLimit: input.bodyLimit ?? DEFAULT_BODY_LIMIT,
    idempotencyTtlMs: (input.idempotency?.ttl ?? 86_400) * 1000,
    changeFeedKeep: input.changeFeed?.keep ?? 1_000_000,
    problemTypeBase: input.problemTypeBase,
    cors: { origins: new Set(corsOrigins), maxAge: input.cors?.maxAge ?? DEFAULT_CORS_MAX_AGE },
    timeouts,
    collections,
    // --storage is typed relative to where the command runs, the file's storage relative to the file.
    baseDir: storageOverridden ? process.cwd() : (options.baseDir ?? process.cwd()),
  };
}

/** The `postgres` settings with defaults (docs/configuration.md). */
function resolvePostgres(input: TruceConfigInput, issues: ConfigIssue[]): TruceConfig['postgres'] {
  const reported = (pointer: string) => issues.some((i) => i.pointer === pointer);
  const poolSize = typeof input.postgres?.poolSize === 'number' ? input.postgres.poolSize : 10;
  const group = input.postgres?.groupCommit;
  let windowMs = 0;
  if (group?.window !== undefined && !reported('/postgres/groupCommit/window')) {
    const value = group.window;
    const ms = typeof value === 'number' || typeof value === 'string' ? durationMs(value) : undefined;
    if (ms === undefined || ms > 1000) {
      issues.push({
        pointer: '/postgres/groupCommit/window',
        message: 'must be a duration from 0 to 1s (0ms, 2ms)',
      });
    } else windowMs = ms;
  }
  const maxGroups = typeof group?.maxGroups === 'number' ? group.maxGroups : Math.min(2, poolSize);
  if (maxGroups > poolSize && !reported('/postgres/groupCommit/maxGroups')) {
    issues.push({
      pointer: '/postgres/groupCommit/maxGroups',
      message: `must be at most poolSize (${poolSize}): each group in flight holds a connection`,
    });
  }
  return {
    schema: input.postgres?.schema ?? 'truce',
    poolSize,
    groupCommit: { windowMs, maxWrites: group?.maxWrites ?? 128, maxGroups: Math.min(maxGroups, poolSize) },
  };
}

/** The configured timeouts with defaults; a duration the schema let through but that is 0 is an issue. */
function resolveTimeouts(input: TruceConfigInput, issues: ConfigIssue[]): Timeouts {
  const pick = (name: keyof NonNullable<TruceConfigInput['timeouts']>, fallback: number): number => {
    const value = input.timeouts?.[name];
    if (value === undefined) return fallback;
    const ms = typeof value === 'number' || typeof value === 'string' ? durationMs(value) : undefined;
    if (ms === undefined || ms <= 0) {
      if (!issues.some((i) => i.pointer === `/timeouts/${name}`))
        issues.push({
          pointer: `/timeouts/${name}`,
          message: 'must be a duration above 0 (30, 500ms, 30s, 2m)',
        });
      return fallback;
    }
    return ms;
  };
  return {
    requestMs: pick('request', DEFAULT_TIMEOUTS.requestMs),
    bodyIdleMs: pick('bodyIdle', DEFAULT_TIMEOUTS.bodyIdleMs),
    keepAliveMs: pick('keepAlive', DEFAULT_TIMEOUTS.keepAliveMs),
    drainMs: pick('drain', DEFAULT_TIMEOUTS.drainMs),
  };
}

/** Why `storage` is not a storage URL Truce can open, or undefined when it is. */
function checkStorage(storage: string): string | undefined {
  if (/^sqlite:.+/.test(storage)) return undefined;
  if (/^postgres(ql)?:\/\//.test(storage)) {
    let url: URL;
    try {
      url = new URL(storage);
    } catch {
      return `"${redactStorage(storage)}" is not a valid URL`;
    }
    if (url.hostname === '' && !url.searchParams.has('host')) return 'the PostgreSQL URL names no host';
    return undefined;
  }
  return `"${redactStorage(storage)}" is not a storage URL (sqlite:<path> or postgres://user@host:port/database)`;
}

/** A storage URL fit for logs and messages: a password in it is replaced by `***`. */
export function redactStorage(storage: string): string {
  return storage.replace(/^(postgres(?:ql)?:\/\/[^:/?#@]*:)[^@/?#]*@/, '$1***@');
}

/**
 * Why `origin` is not an origin as browsers serialise it in the Origin header, or undefined. The
 * allow-list is compared with that header as a plain string, so `https://App.example.com/` or
 * `https://app.example.com:443` would never match: refuse them here and say what was meant.
 */
function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function parseListen(text: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port };
}

function resolveCollection(
  name: string,
  c: CollectionConfigInput,
  at: string,
  input: TruceConfigInput,
  issues: ConfigIssue[],
): CollectionConfig {
  if (c.schema !== undefined) {
    for (const message of checkCollectionSchema(c.schema)) issues.push({ pointer: `${at}/schema`, message });
  }
  const unique = (c.unique ?? []).map((u) => ({
    name: u.name ?? u.fields.join('+'),
    fields: u.fields,
    caseInsensitive: u.caseInsensitive ?? false,
  }));
  const seen = new Set<string>();
  unique.forEach((u, i) => {
    if (seen.has(u.name))
      issues.push({ pointer: `${at}/unique/${i}`, message: `two unique constraints are named "${u.name}"` });
    seen.add(u.name);
  });
  const references = Object.entries(c.references ?? {}).map(([field, collection]) => {
    if (!(collection in input.collections)) {
      issues.push({
        pointer: `${at}/references/${escape(field)}`,
        message: `there is no collection "${collection}"`,
      });
    }
    return { field, collection };
  });
  const rules = (c.rules ?? []).map((r, i) => {
    for (const message of compileErrors(r.schema))
      issues.push({ pointer: `${at}/rules/${i}/schema`, message });
    return { name: r.name, schema: r.schema, message: r.message ?? `The document breaks rule "${r.name}".` };
  });
  let merge = compileMergePolicy({});
  try {
    merge = compileMergePolicy(c.merge ?? {});
  } catch (error) {
    issues.push({ pointer: `${at}/merge`, message: (error as Error).message });
  }
  return {
    name,
    merge,
    description: c.description,
    schema: c.schema,
    requirePreconditions: c.requirePreconditions ?? false,
    staleWriteStatus: c.staleWriteStatus ?? 412,
    lockedStatus: c.lockedStatus ?? 423,
    historyKeep: c.history?.keep ?? DEFAULT_HISTORY_KEEP,
    unique,
    states: c.states ? resolveStates(c, `${at}/states`, issues) : undefined,
    references,
    rules,
  };
}

/** Every state the machine names must be a value the state field's schema allows. */
function resolveStates(c: CollectionConfigInput, at: string, issues: ConfigIssue[]): StateMachine {
  const states = c.states!;
  const properties = c.schema?.['properties'];
  const fieldSchema =
    properties && typeof properties === 'object' && !Array.isArray(properties)
      ? properties[states.field]
      : undefined;
  let validate: ((value: unknown) => boolean) | undefined;
  try {
    if (fieldSchema !== undefined && typeof fieldSchema === 'object') {
      validate = new Ajv2020({ strict: false, logger: false }).compile(fieldSchema as object);
    }
  } catch {
    validate = undefined; // the schema itself is reported as invalid
  }
  const check = (value: unknown, pointer: string) => {
    if (validate && !validate(value)) {
      issues.push({
        pointer,
        message: `${JSON.stringify(value)} is not a value the schema allows for "${states.field}"`,
      });
    }
  };
  check(states.initial, `${at}/initial`);
  const transitions = new Map<string, Transition>();
  for (const [name, t] of Object.entries(states.transitions)) {
    const tAt = `${at}/transitions/${escape(name)}`;
    t.from.forEach((v, i) => check(v, `${tAt}/from/${i}`));
    check(t.to, `${tAt}/to`);
    if (t.guard)
      for (const message of compileErrors(t.guard)) issues.push({ pointer: `${tAt}/guard`, message });
    transitions.set(name, { name, from: t.from, to: t.to, guard: t.guard, description: t.description });
  }
  return { field: states.field, initial: states.initial, transitions };
}

function compileErrors(schema: JsonObject): string[] {
  try {
    new Ajv2020({ allErrors: true, strict: false, logger: false }).compile(schema);
    return [];
  } catch (error) {
    return [`not a valid JSON Schema: ${(error as Error).message}`];
  }
}

/** Each collection schema must compile, and may not declare fields the server owns. */
function checkCollectionSchema(schema: JsonObject): string[] {
  const messages = compileErrors(schema);
  const properties = schema['properties'];
  if (properties && typeof properties === 'object' && !Array.isArray(properties)) {
    for (const key of Object.keys(properties)) {
      if (key.startsWith('_') || key === 'id') {
        messages.push(`property "${key}" is reserved: id and members starting with _ belong to the server`);
      }
    }
  }
  return messages;
}

function describeAjvError(e: { keyword: string; message?: string; params: Record<string, unknown> }): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown option "${String(e.params['additionalProperty'])}"`;
    case 'enum':
      return `${e.message ?? 'invalid value'}: ${JSON.stringify(e.params['allowedValues'])}`;
    case 'propertyNames':
      return `name "${String(e.params['propertyName'])}" is not allowed (letters, digits, _ and -, starting with a letter)`;
    default:
      return e.message ?? e.keyword;
  }
}

function escape(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}
