import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import configSchema from './truce-config.schema.json' with { type: 'json' };
import type { CollectionConfig, ConfigIssue, TruceConfig, TruceConfigInput } from './types.js';
import type { JsonObject } from '../store/types.js';

export const DEFAULT_LISTEN = '127.0.0.1:4000';
export const DEFAULT_STORAGE = 'sqlite:./data/truce.db';
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_HISTORY_KEEP = 100;

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

const ajv = new Ajv2020({ allErrors: true, strict: false });
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
  if (!validateShape(data)) {
    const issues = (validateShape.errors ?? []).map((e) => ({
      pointer:
        e.keyword === 'required'
          ? `${e.instancePath}/${String(e.params['missingProperty'])}`
          : e.instancePath,
      message: describeAjvError(e),
    }));
    throw new ConfigError(`${where} is invalid`, issues, options.file);
  }
  const input = data as unknown as TruceConfigInput;
  const issues: ConfigIssue[] = [];

  const listenText = options.overrides?.listen ?? input.listen ?? DEFAULT_LISTEN;
  const listen = parseListen(listenText);
  if (!listen)
    issues.push({ pointer: '/listen', message: `"${listenText}" is not host:port with a port 0-65535` });

  const storage = options.overrides?.storage ?? input.storage ?? DEFAULT_STORAGE;
  if (!/^sqlite:.+/.test(storage)) {
    issues.push({
      pointer: '/storage',
      message: storage.startsWith('postgres')
        ? 'PostgreSQL storage is not available in this version; use sqlite:<path>'
        : `"${storage}" is not a storage URL (sqlite:<path>)`,
    });
  }

  const collections = new Map<string, CollectionConfig>();
  for (const [name, c] of Object.entries(input.collections)) {
    if (c.schema !== undefined) {
      for (const message of checkCollectionSchema(c.schema)) {
        issues.push({ pointer: `/collections/${escape(name)}/schema`, message });
      }
    }
    collections.set(name, {
      name,
      description: c.description,
      schema: c.schema,
      requirePreconditions: c.requirePreconditions ?? false,
      staleWriteStatus: c.staleWriteStatus ?? 412,
      historyKeep: c.history?.keep ?? DEFAULT_HISTORY_KEEP,
    });
  }
  if (issues.length > 0 || !listen) throw new ConfigError(`${where} is invalid`, issues, options.file);

  return {
    listen,
    storage,
    durability: input.durability ?? 'normal',
    actorHeader: (input.actorHeader ?? 'Truce-Actor').toLowerCase(),
    bodyLimit: input.bodyLimit ?? DEFAULT_BODY_LIMIT,
    problemTypeBase: input.problemTypeBase ?? '/_problems/',
    collections,
    baseDir: options.baseDir ?? process.cwd(),
  };
}

function parseListen(text: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port };
}

/** Each collection schema must compile, and may not declare fields the server owns. */
function checkCollectionSchema(schema: JsonObject): string[] {
  const messages: string[] = [];
  try {
    new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  } catch (error) {
    messages.push(`not a valid JSON Schema: ${(error as Error).message}`);
  }
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
