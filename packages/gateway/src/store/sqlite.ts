import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { decodeCursor, newId, page } from './ids.js';
import { SqliteChanges } from './sqlite-changes.js';
import {
  SUBSCRIPTION_ACTIONS,
  type AuditRow,
  type ConsumerRow,
  type GatewayStore,
  type KeyLookup,
  type KeyRow,
  type Page,
  type SubscriptionAction,
  type SubscriptionRow,
  type SubscriptionStatus,
  type TransitionResult,
} from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS consumers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  consumer_id TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_consumer ON api_keys (consumer_id, id);
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY,
  consumer_id TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
  route TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (consumer_id, route)
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
`;

/** `lastUsedAt` is written at most this often per key: a write per request would serialise the proxy. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** Key lookups cached at most; past this the cache starts over (it only ever holds known keys). */
const MAX_CACHED_LOOKUPS = 10_000;

/** A cached key lookup, with the `last_used_at` this process last saw or wrote. */
interface CachedLookup {
  readonly lookup: KeyLookup;
  lastUsedAt: number;
}

interface SubscriptionDbRow {
  id: string;
  consumer_id: string;
  consumer: string;
  route: string;
  status: SubscriptionStatus;
  created_at: number;
  updated_at: number;
}

/** The gateway store on SQLite (better-sqlite3, WAL): several gateway processes may share the file. */
export class SqliteGatewayStore implements GatewayStore {
  private readonly db: Database.Database;
  private readonly lookup: Database.Statement<[string, string], LookupRow>;
  private readonly touch: Database.Statement<[number, string, number]>;
  private readonly changes: SqliteChanges;
  /**
   * Key lookups by route and hash, valid only while nothing has been committed to the file since
   * they were read (see {@link SqliteChanges}): a revocation, a deleted key or consumer in any
   * process empties it before the next lookup, so SPEC 5.2's "very next request" still holds.
   */
  private readonly cached = new Map<string, CachedLookup>();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
      this.lookup = this.db.prepare(
        `SELECT c.id AS consumer_id, c.name AS consumer_name, c.created_at AS consumer_created_at,
                k.id AS key_id, k.last_used_at AS last_used_at, s.status AS status
           FROM api_keys k
           JOIN consumers c ON c.id = k.consumer_id
           LEFT JOIN subscriptions s ON s.consumer_id = c.id AND s.route = ?
          WHERE k.hash = ?`,
      );
      this.touch = this.db.prepare(
        'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND coalesce(last_used_at, 0) < ?',
      );
      this.changes = new SqliteChanges(this.db, path);
    } catch (error) {
      // A file another process holds while setting it up (SQLITE_BUSY) is opened again (storage/open.ts).
      this.db.close();
      throw error;
    }
  }

  private audited<T>(
    action: string,
    target: string,
    now: number,
    run: () => T,
    detail: (result: T) => Record<string, unknown> | undefined,
  ): T {
    try {
      return this.db
        .transaction(() => {
          const result = run();
          const d = detail(result);
          if (d !== undefined) {
            this.db
              .prepare('INSERT INTO audit (time, action, target, detail) VALUES (?, ?, ?, ?)')
              .run(now, action, target, JSON.stringify(d));
          }
          return result;
          // IMMEDIATE: the write lock first, so a check and its write see no other process's commit between.
        })
        .immediate();
    } finally {
      // Own writes invalidate the key cache at once: the change probe is blind to them in memory.
      this.cached.clear();
    }
  }

  async createConsumer(name: string, now: number): Promise<ConsumerRow | 'taken'> {
    const id = newId('con', now);
    try {
      return this.audited(
        'consumer.create',
        id,
        now,
        () => {
          this.db.prepare('INSERT INTO consumers (id, name, created_at) VALUES (?, ?, ?)').run(id, name, now);
          return { id, name, createdAt: now };
        },
        () => ({ name }),
      );
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return 'taken';
      throw error;
    }
  }

  async consumer(idOrName: string): Promise<ConsumerRow | undefined> {
    const row = this.db
      .prepare(
        'SELECT id, name, created_at FROM consumers WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1',
      )
      .get(idOrName, idOrName, idOrName) as { id: string; name: string; created_at: number } | undefined;
    return row && { id: row.id, name: row.name, createdAt: row.created_at };
  }

  async consumers(limit: number, cursor: string | undefined): Promise<Page<ConsumerRow>> {
    const rows = this.db
      .prepare('SELECT id, name, created_at FROM consumers WHERE id > ? ORDER BY id LIMIT ?')
      .all(decodeCursor(cursor) ?? '', limit + 1) as {
      id: string;
      name: string;
      created_at: number;
    }[];
    return page(
      rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at })),
      limit,
      (r) => r.id,
    );
  }

  async deleteConsumer(id: string, now: number): Promise<boolean> {
    return this.audited(
      'consumer.delete',
      id,
      now,
      () => this.db.prepare('DELETE FROM consumers WHERE id = ?').run(id).changes > 0,
      (deleted) => (deleted ? {} : undefined),
    );
  }

  async addKey(consumerId: string, hash: string, prefix: string, now: number): Promise<KeyRow | undefined> {
    const id = newId('key', now);
    return this.audited(
      'key.create',
      id,
      now,
      () => {
        const owner = this.db.prepare('SELECT 1 FROM consumers WHERE id = ?').get(consumerId);
        if (!owner) return undefined;
        this.db
          .prepare('INSERT INTO api_keys (id, consumer_id, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(id, consumerId, hash, prefix, now);
        return { id, consumerId, prefix, createdAt: now, lastUsedAt: null };
      },
      (key) => (key ? { consumer: consumerId, prefix } : undefined),
    );
  }

  async keys(consumerId: string, limit: number, cursor: string | undefined): Promise<Page<KeyRow>> {
    const rows = this.db
      .prepare(
        'SELECT id, consumer_id, prefix, created_at, last_used_at FROM api_keys WHERE consumer_id = ? AND id > ? ORDER BY id LIMIT ?',
      )
      .all(consumerId, decodeCursor(cursor) ?? '', limit + 1) as {
      id: string;
      consumer_id: string;
      prefix: string;
      created_at: number;
      last_used_at: number | null;
    }[];
    return page(
      rows.map((r) => ({
        id: r.id,
        consumerId: r.consumer_id,
        prefix: r.prefix,
        createdAt: r.created_at,
        lastUsedAt: r.last_used_at,
      })),
      limit,
      (r) => r.id,
    );
  }

  async deleteKey(consumerId: string, keyId: string, now: number): Promise<boolean> {
    return this.audited(
      'key.delete',
      keyId,
      now,
      () =>
        this.db.prepare('DELETE FROM api_keys WHERE id = ? AND consumer_id = ?').run(keyId, consumerId)
          .changes > 0,
      (deleted) => (deleted ? { consumer: consumerId } : undefined),
    );
  }

  async lookupKey(hash: string, route: string, now: number): Promise<KeyLookup | undefined> {
    if (this.changes.changed()) this.cached.clear();
    const id = `${route}\u0000${hash}`;
    let entry = this.cached.get(id);
    if (entry === undefined) {
      const row = this.lookup.get(route, hash);
      // Unknown keys are not cached: a client sending random keys must not fill the cache.
      if (!row) return undefined;
      entry = {
        lookup: {
          consumer: { id: row.consumer_id, name: row.consumer_name, createdAt: row.consumer_created_at },
          keyId: row.key_id,
          subscription: row.status,
        },
        lastUsedAt: row.last_used_at ?? 0,
      };
      if (this.cached.size >= MAX_CACHED_LOOKUPS) this.cached.clear();
      this.cached.set(id, entry);
    }
    if (entry.lastUsedAt < now - LAST_USED_RESOLUTION_MS) {
      this.touch.run(now, entry.lookup.keyId, now - LAST_USED_RESOLUTION_MS);
      entry.lastUsedAt = now;
    }
    return entry.lookup;
  }

  async subscribe(
    consumerId: string,
    route: string,
    status: SubscriptionStatus,
    now: number,
  ): Promise<SubscriptionRow | 'exists'> {
    const id = newId('sub', now);
    try {
      return this.audited(
        'subscription.request',
        id,
        now,
        () => {
          this.db
            .prepare(
              'INSERT INTO subscriptions (id, consumer_id, route, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
            )
            .run(id, consumerId, route, status, now, now);
          return this.subscriptionRow(id)!;
        },
        (s) => ({ consumer: s.consumer, route, status }),
      );
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return 'exists';
      throw error;
    }
  }

  private subscriptionRow(id: string): SubscriptionRow | undefined {
    const row = this.db
      .prepare(
        `SELECT s.*, c.name AS consumer FROM subscriptions s JOIN consumers c ON c.id = s.consumer_id WHERE s.id = ?`,
      )
      .get(id) as SubscriptionDbRow | undefined;
    return row && toSubscription(row);
  }

  async subscription(id: string): Promise<SubscriptionRow | undefined> {
    return this.subscriptionRow(id);
  }

  async subscriptions(
    filter: {
      status?: SubscriptionStatus | undefined;
      consumerId?: string | undefined;
      route?: string | undefined;
    },
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<SubscriptionRow>> {
    const rows = this.db
      .prepare(
        `SELECT s.*, c.name AS consumer FROM subscriptions s JOIN consumers c ON c.id = s.consumer_id
          WHERE s.id > ? AND (? IS NULL OR s.status = ?) AND (? IS NULL OR s.consumer_id = ?) AND (? IS NULL OR s.route = ?)
          ORDER BY s.id LIMIT ?`,
      )
      .all(
        decodeCursor(cursor) ?? '',
        filter.status ?? null,
        filter.status ?? null,
        filter.consumerId ?? null,
        filter.consumerId ?? null,
        filter.route ?? null,
        filter.route ?? null,
        limit + 1,
      ) as SubscriptionDbRow[];
    return page(rows.map(toSubscription), limit, (r) => r.id);
  }

  async transitionSubscription(
    id: string,
    action: SubscriptionAction,
    now: number,
  ): Promise<TransitionResult> {
    const rule = SUBSCRIPTION_ACTIONS[action];
    return this.audited(
      `subscription.${action}`,
      id,
      now,
      (): TransitionResult => {
        const current = this.subscriptionRow(id);
        if (!current) return { ok: false, reason: 'not-found' };
        if (!(rule.from as readonly string[]).includes(current.status)) {
          return { ok: false, reason: 'invalid-transition', current: current.status };
        }
        this.db
          .prepare('UPDATE subscriptions SET status = ?, updated_at = ? WHERE id = ?')
          .run(rule.to, now, id);
        return { ok: true, subscription: this.subscriptionRow(id)! };
      },
      (r) =>
        r.ok
          ? { consumer: r.subscription.consumer, route: r.subscription.route, status: r.subscription.status }
          : undefined,
    );
  }

  async audit(limit: number, cursor: string | undefined): Promise<Page<AuditRow>> {
    const after = Number(decodeCursor(cursor) ?? 0);
    const rows = this.db
      .prepare('SELECT id, time, action, target, detail FROM audit WHERE id > ? ORDER BY id LIMIT ?')
      .all(Number.isSafeInteger(after) ? after : 0, limit + 1) as {
      id: number;
      time: number;
      action: string;
      target: string;
      detail: string;
    }[];
    return page(
      rows.map((r) => ({
        id: r.id,
        time: r.time,
        action: r.action,
        target: r.target,
        detail: JSON.parse(r.detail) as Record<string, unknown>,
      })),
      limit,
      (r) => r.id,
    );
  }

  async close(): Promise<void> {
    this.changes.close();
    this.cached.clear();
    if (this.db.open) this.db.close();
  }
}

interface LookupRow {
  consumer_id: string;
  consumer_name: string;
  consumer_created_at: number;
  key_id: string;
  last_used_at: number | null;
  status: SubscriptionStatus | null;
}

function toSubscription(r: SubscriptionDbRow): SubscriptionRow {
  return {
    id: r.id,
    consumerId: r.consumer_id,
    consumer: r.consumer,
    route: r.route,
    status: r.status,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
