import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfigText, redactStorage } from './load.js';

function issues(text: string, format: 'yaml' | 'json' = 'yaml') {
  try {
    parseConfigText(text, { format });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('fills in the defaults of SPEC 2', () => {
    const c = parseConfigText('collections: { a: {} }');
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(c.storage).toBe('sqlite:./data/truce.db');
    expect(c.actorHeader).toBe('truce-actor');
    expect(c.bodyLimit).toBe(1024 * 1024);
    expect(c.collections.get('a')).toMatchObject({
      requirePreconditions: false,
      staleWriteStatus: 412,
      historyKeep: 100,
    });
  });

  it('reads timeouts as seconds or with a unit, with defaults for the rest', () => {
    expect(parseConfigText('collections: { a: {} }').timeouts).toEqual({
      requestMs: 30_000,
      bodyIdleMs: 10_000,
      keepAliveMs: 5_000,
      drainMs: 10_000,
    });
    const c = parseConfigText(
      'timeouts: { request: 1m, bodyIdle: 2.5, drain: 250ms }\ncollections: { a: {} }',
    );
    expect(c.timeouts).toEqual({ requestMs: 60_000, bodyIdleMs: 2_500, keepAliveMs: 5_000, drainMs: 250 });
  });

  it('refuses timeouts that are not durations above 0, each with its path', () => {
    const found = issues(
      'timeouts: { request: 0, keepAlive: 5h, drain: 0ms, idle: 1 }\ncollections: { a: {} }',
    );
    const pointers = found.map((i) => i.pointer);
    expect(pointers).toContain('/timeouts/request');
    expect(pointers).toContain('/timeouts/keepAlive');
    expect(pointers).toContain('/timeouts/drain');
    expect(found.some((i) => i.message.includes('unknown option "idle"'))).toBe(true);
  });

  it('reads JSON and YAML files, and overrides from the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'truce-config-'));
    try {
      writeFileSync(
        join(dir, 'truce.json'),
        JSON.stringify({ listen: '0.0.0.0:80', collections: { b: { history: { keep: 5 } } } }),
      );
      const c = loadConfigFile(join(dir, 'truce.json'), {
        listen: '127.0.0.1:9',
        storage: 'sqlite::memory:',
      });
      expect(c.listen).toEqual({ host: '127.0.0.1', port: 9 });
      expect(c.storage).toBe('sqlite::memory:');
      expect(c.collections.get('b')!.historyKeep).toBe(5);
      // --storage is relative to the working directory; the file's own storage to the file.
      expect(c.baseDir).toBe(process.cwd());
      expect(loadConfigFile(join(dir, 'truce.json')).baseDir).toBe(dir);
      writeFileSync(join(dir, 'truce.yaml'), 'listen: "[::1]:4001"\ncollections: {}\n');
      expect(loadConfigFile(join(dir, 'truce.yaml')).listen).toEqual({ host: '::1', port: 4001 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every error with its path, not only the first', () => {
    const found = issues(`
listen: 4000
storage: mysql://x
bogus: 1
collections:
  users:
    staleWriteStatus: 418
    history: { keep: 0 }
    requirePreconditions: yes please
  "bad name": {}
`);
    const pointers = found.map((i) => i.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining([
        '/listen',
        '/storage',
        '',
        '/collections/users/staleWriteStatus',
        '/collections/users/history/keep',
        '/collections/users/requirePreconditions',
      ]),
    );
    expect(found.find((i) => i.pointer === '')!.message).toContain('bogus');
    expect(found.some((i) => i.message.includes('bad name'))).toBe(true);
  });

  it('reports value errors together with shape errors, in one pass', () => {
    const found = issues('listen: localhost:99999\nstorage: mysql://u@h/db\ncolour: blue\ncollections: {}\n');
    expect(found.map((i) => i.pointer).sort()).toEqual(['', '/listen', '/storage']);
  });

  it('requires collections', () => {
    expect(issues('listen: 127.0.0.1:1')).toEqual([
      { pointer: '/collections', message: expect.stringContaining('collections') },
    ]);
  });

  it('refuses schemas that do not compile or declare server-owned fields', () => {
    const found = issues(
      'collections:\n  a:\n    schema: { type: object, properties: { _v: {}, id: {}, n: { type: nonsense } } }\n',
    );
    expect(found.map((i) => i.pointer)).toEqual([
      '/collections/a/schema',
      '/collections/a/schema',
      '/collections/a/schema',
    ]);
  });

  it('refuses duplicate keys and broken YAML', () => {
    expect(() => parseConfigText('collections: {}\ncollections: {}\n')).toThrow(ConfigError);
    expect(() => parseConfigText('{"collections": ', { format: 'json' })).toThrow(/not valid JSON/);
  });

  it('takes PostgreSQL URLs, with postgres.schema and postgres.poolSize', () => {
    const config = parseConfigText(
      'storage: postgresql://u:secret@h:5433/db?sslmode=require\npostgres: { schema: shop, poolSize: 4 }\ncollections: {}\n',
    );
    expect(config.storage).toBe('postgresql://u:secret@h:5433/db?sslmode=require');
    expect(config.postgres).toEqual({
      schema: 'shop',
      poolSize: 4,
      groupCommit: { windowMs: 0, maxWrites: 128, maxGroups: 2 },
    });
    expect(parseConfigText('storage: postgres://h/db\ncollections: {}\n').postgres).toEqual({
      schema: 'truce',
      poolSize: 10,
      groupCommit: { windowMs: 0, maxWrites: 128, maxGroups: 2 },
    });
    expect(
      parseConfigText(
        'storage: postgres://h/db\npostgres: { poolSize: 1, groupCommit: { window: 2ms, maxWrites: 16 } }\ncollections: {}\n',
      ).postgres.groupCommit,
    ).toEqual({ windowMs: 2, maxWrites: 16, maxGroups: 1 });
  });

  it('refuses a group-commit window over 1s and more groups in flight than connections', () => {
    expect(
      issues(
        'storage: postgres://h/db\npostgres: { poolSize: 2, groupCommit: { window: 2s, maxGroups: 3 } }\ncollections: {}\n',
      ).map((i) => i.pointer),
    ).toEqual(['/postgres/groupCommit/window', '/postgres/groupCommit/maxGroups']);
    expect(
      issues(
        'storage: postgres://h/db\npostgres: { groupCommit: { maxWrites: 0, other: 1 } }\ncollections: {}\n',
      )
        .map((i) => i.pointer)
        .sort(),
    ).toEqual(['/postgres/groupCommit', '/postgres/groupCommit/maxWrites']);
  });

  it('refuses PostgreSQL URLs without a host, bad pool sizes, and shows no password in messages', () => {
    expect(issues('storage: postgres:///db\ncollections: {}\n')).toEqual([
      { pointer: '/storage', message: 'the PostgreSQL URL names no host' },
    ]);
    expect(
      issues('storage: postgres://h/db\npostgres: { poolSize: 0, extra: 1 }\ncollections: {}\n')
        .map((i) => i.pointer)
        .sort(),
    ).toEqual(['/postgres', '/postgres/poolSize']);
    const found = issues('storage: postgres://u:hunter2@[::1/db\ncollections: {}\n');
    expect(found).toEqual([{ pointer: '/storage', message: expect.stringContaining('not a valid URL') }]);
    expect(JSON.stringify(found)).not.toContain('hunter2');
    expect(redactStorage('postgres://u:hunter2@h/db')).toBe('postgres://u:***@h/db');
    expect(redactStorage('postgres://u@h/db')).toBe('postgres://u@h/db');
  });

  it('reads cors origins as exact origins, and says what was meant when one is not', () => {
    expect(parseConfigText('collections: {}').cors).toEqual({ origins: new Set(), maxAge: 600 });
    const c = parseConfigText(
      'cors: { origins: [https://app.example.com, "http://127.0.0.1:5173", "http://[::1]:8080", chrome-extension://abcdef], maxAge: 60 }\ncollections: {}',
    );
    expect([...c.cors.origins]).toEqual([
      'https://app.example.com',
      'http://127.0.0.1:5173',
      'http://[::1]:8080',
      'chrome-extension://abcdef',
    ]);
    expect(c.cors.maxAge).toBe(60);
    const found = issues(
      'cors: { origins: ["https://App.example.com", "https://a.example:443", "https://a.example/", "http://a.example/x", "*", "null", "file:///tmp"], maxAge: -1 }\ncollections: {}',
    );
    expect(found).toEqual([
      { pointer: '/cors/origins/4', message: expect.stringContaining('must match pattern') },
      { pointer: '/cors/origins/5', message: expect.stringContaining('must match pattern') },
      { pointer: '/cors/maxAge', message: expect.stringContaining('>= 0') },
      { pointer: '/cors/origins/0', message: expect.stringContaining('use "https://app.example.com"') },
      { pointer: '/cors/origins/1', message: expect.stringContaining('use "https://a.example"') },
      { pointer: '/cors/origins/2', message: expect.stringContaining('use "https://a.example"') },
      { pointer: '/cors/origins/3', message: expect.stringContaining('use "http://a.example"') },
      { pointer: '/cors/origins/6', message: '"file:///tmp" is not an origin (scheme://host[:port])' },
    ]);
    expect(issues('cors: {}\ncollections: {}')).toEqual([
      { pointer: '/cors/origins', message: expect.stringContaining('required') },
    ]);
  });
});
