import type pg from 'pg';
import { type PostgresDatabase, sqlState } from '../storage/postgres.js';
import { decodeCursor, newId, page } from './ids.js';
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

/** `lastUsedAt` is written at most this often per key, and never on the request's path. */
const LAST_USED_RESOLUTION_MS = 60_000;
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

type Db = pg.Pool | pg.PoolClient;

/**
 * The gateway store on PostgreSQL, for several gateway processes on one database (SPEC 5.3). Same
 * semantics as the SQLite store: every change is one READ COMMITTED transaction with its audit row;
 * checks are made by the statement that writes (a unique index, a foreign key, a status in the
 * UPDATE's WHERE), so of two processes racing, exactly one wins. A key lookup is one query on any
 * pooled connection, so it sees every commit made before it, by any process.
 */
export class PostgresGatewayStore implements GatewayStore {
  private readonly s: string;
  private readonly pool: pg.Pool;
  private closed = false;
  /** When this process last refreshed each key's `last_used_at`: one UPDATE a minute, not one per request. */
  private readonly touched = new Map<string, number>();

  constructor(private readonly db: PostgresDatabase) {
    db.use();
    this.s = db.s;
    this.pool = db.pool;
  }

  /** Runs `fn` in a transaction; `audit` (when it returns one) is written in the same transaction. */
  private async audited<T>(
    action: string,
    target: string,
    now: number,
    fn: (db: pg.PoolClient) => Promise<T>,
    detail: (result: T) => Record<string, unknown> | undefined,
  ): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      const d = detail(result);
      if (d !== undefined) {
        await client.query(
          `INSERT INTO ${this.s}.audit (time, action, target, detail) VALUES ($1, $2, $3, $4)`,
          [now, action, target, JSON.stringify(d)],
        );
      }
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async createConsumer(name: string, now: number): Promise<ConsumerRow | 'taken'> {
    const id = newId('con', now);
    try {
      return await this.audited(
        'consumer.create',
        id,
        now,
        async (db) => {
          await db.query(`INSERT INTO ${this.s}.consumers (id, name, created_at) VALUES ($1, $2, $3)`, [
            id,
            name,
            now,
          ]);
          return { id, name, createdAt: now };
        },
        () => ({ name }),
      );
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION) return 'taken';
      throw error;
    }
  }

  async consumer(idOrName: string): Promise<ConsumerRow | undefined> {
    if (idOrName.includes('\u0000')) return undefined; // PostgreSQL text cannot hold it: no such consumer
    const { rows } = await this.pool.query<{ id: string; name: string; created_at: number }>(
      `SELECT id, name, created_at FROM ${this.s}.consumers WHERE id = $1 OR name = $1
        ORDER BY id = $1 DESC LIMIT 1`,
      [idOrName],
    );
    const row = rows[0];
    return row && { id: row.id, name: row.name, createdAt: row.created_at };
  }

  async consumers(limit: number, cursor: string | undefined): Promise<Page<ConsumerRow>> {
    const { rows } = await this.pool.query<{ id: string; name: string; created_at: number }>(
      `SELECT id, name, created_at FROM ${this.s}.consumers WHERE id > $1 ORDER BY id LIMIT $2`,
      [decodeCursor(cursor) ?? '', limit + 1],
    );
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
      async (db) =>
        ((await db.query(`DELETE FROM ${this.s}.consumers WHERE id = $1`, [id])).rowCount ?? 0) > 0,
      (deleted) => (deleted ? {} : undefined),
    );
  }

  async addKey(consumerId: string, hash: string, prefix: string, now: number): Promise<KeyRow | undefined> {
    const id = newId('key', now);
    try {
      return await this.audited(
        'key.create',
        id,
        now,
        async (db) => {
          await db.query(
            `INSERT INTO ${this.s}.api_keys (id, consumer_id, hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)`,
            [id, consumerId, hash, prefix, now],
          );
          return { id, consumerId, prefix, createdAt: now, lastUsedAt: null };
        },
        () => ({ consumer: consumerId, prefix }),
      );
    } catch (error) {
      // The consumer is gone (or was never there): the foreign key refuses the key.
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) return undefined;
      throw error;
    }
  }

  async keys(consumerId: string, limit: number, cursor: string | undefined): Promise<Page<KeyRow>> {
    const { rows } = await this.pool.query<{
      id: string;
      consumer_id: string;
      prefix: string;
      created_at: number;
      last_used_at: number | null;
    }>(
      `SELECT id, consumer_id, prefix, created_at, last_used_at FROM ${this.s}.api_keys
        WHERE consumer_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [consumerId, decodeCursor(cursor) ?? '', limit + 1],
    );
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
    if (keyId.includes('\u0000')) return false;
    return this.audited(
      'key.delete',
      keyId,
      now,
      async (db) =>
        ((
          await db.query(`DELETE FROM ${this.s}.api_keys WHERE id = $1 AND consumer_id = $2`, [
            keyId,
            consumerId,
          ])
        ).rowCount ?? 0) > 0,
      (deleted) => (deleted ? { consumer: consumerId } : undefined),
    );
  }

  /**
   * One query: key, consumer and subscription together, so a revocation or deletion committed by
   * any process is seen by the very next request. `last_used_at` is refreshed at most once a minute,
   * without waiting for it: a write per request would serialise the proxy on the key's row.
   */
  async lookupKey(hash: string, route: string, now: number): Promise<KeyLookup | undefined> {
    const { rows } = await this.pool.query<LookupRow>({
      name: 'truce_gw_lookup',
      text: `SELECT c.id AS consumer_id, c.name AS consumer_name, c.created_at AS consumer_created_at,
                    k.id AS key_id, k.last_used_at, s.status
               FROM ${this.s}.api_keys k
               JOIN ${this.s}.consumers c ON c.id = k.consumer_id
               LEFT JOIN ${this.s}.subscriptions s ON s.consumer_id = c.id AND s.route = $1
              WHERE k.hash = $2`,
      values: [route, hash],
    });
    const row = rows[0];
    if (!row) return undefined;
    const stale = now - LAST_USED_RESOLUTION_MS;
    if ((row.last_used_at ?? 0) < stale && (this.touched.get(row.key_id) ?? 0) < stale) {
      if (this.touched.size >= 10_000) this.touched.clear();
      this.touched.set(row.key_id, now);
      this.pool
        .query(
          `UPDATE ${this.s}.api_keys SET last_used_at = $1 WHERE id = $2 AND coalesce(last_used_at, 0) < $3`,
          [now, row.key_id, stale],
        )
        .catch(() => undefined);
    }
    return {
      consumer: { id: row.consumer_id, name: row.consumer_name, createdAt: row.consumer_created_at },
      keyId: row.key_id,
      subscription: row.status,
    };
  }

  async subscribe(
    consumerId: string,
    route: string,
    status: SubscriptionStatus,
    now: number,
  ): Promise<SubscriptionRow | 'exists'> {
    const id = newId('sub', now);
    try {
      return await this.audited(
        'subscription.request',
        id,
        now,
        async (db) => {
          await db.query(
            `INSERT INTO ${this.s}.subscriptions (id, consumer_id, route, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)`,
            [id, consumerId, route, status, now],
          );
          return (await this.subscriptionRow(db, id))!;
        },
        (s) => ({ consumer: s.consumer, route, status }),
      );
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION) return 'exists';
      throw error;
    }
  }

  private async subscriptionRow(db: Db, id: string): Promise<SubscriptionRow | undefined> {
    const { rows } = await db.query<SubscriptionDbRow>(
      `SELECT s.*, c.name AS consumer FROM ${this.s}.subscriptions s
         JOIN ${this.s}.consumers c ON c.id = s.consumer_id WHERE s.id = $1`,
      [id],
    );
    return rows[0] && toSubscription(rows[0]);
  }

  async subscription(id: string): Promise<SubscriptionRow | undefined> {
    if (id.includes('\u0000')) return undefined;
    return this.subscriptionRow(this.pool, id);
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
    if ([filter.consumerId, filter.route].some((v) => v?.includes('\u0000')))
      return { items: [], next: null };
    const { rows } = await this.pool.query<SubscriptionDbRow>(
      `SELECT s.*, c.name AS consumer FROM ${this.s}.subscriptions s JOIN ${this.s}.consumers c ON c.id = s.consumer_id
        WHERE s.id > $1 AND ($2::text IS NULL OR s.status = $2) AND ($3::text IS NULL OR s.consumer_id = $3)
          AND ($4::text IS NULL OR s.route = $4)
        ORDER BY s.id LIMIT $5`,
      [
        decodeCursor(cursor) ?? '',
        filter.status ?? null,
        filter.consumerId ?? null,
        filter.route ?? null,
        limit + 1,
      ],
    );
    return page(rows.map(toSubscription), limit, (r) => r.id);
  }

  /**
   * The check is the UPDATE's WHERE: under READ COMMITTED, a second transition of the same row waits
   * for the first to commit and then evaluates its WHERE against the new status, so exactly one of
   * two racing revocations (or approvals) changes the row; the other reads the status it found.
   */
  async transitionSubscription(
    id: string,
    action: SubscriptionAction,
    now: number,
  ): Promise<TransitionResult> {
    const rule = SUBSCRIPTION_ACTIONS[action];
    if (id.includes('\u0000')) return { ok: false, reason: 'not-found' };
    return this.audited(
      `subscription.${action}`,
      id,
      now,
      async (db): Promise<TransitionResult> => {
        const updated = await db.query(
          `UPDATE ${this.s}.subscriptions SET status = $2, updated_at = $3 WHERE id = $1 AND status = ANY($4::text[])`,
          [id, rule.to, now, rule.from],
        );
        const current = await this.subscriptionRow(db, id);
        if (!current) return { ok: false, reason: 'not-found' };
        if ((updated.rowCount ?? 0) === 0)
          return { ok: false, reason: 'invalid-transition', current: current.status };
        return { ok: true, subscription: current };
      },
      (r) =>
        r.ok
          ? { consumer: r.subscription.consumer, route: r.subscription.route, status: r.subscription.status }
          : undefined,
    );
  }

  async audit(limit: number, cursor: string | undefined): Promise<Page<AuditRow>> {
    const after = Number(decodeCursor(cursor) ?? 0);
    const { rows } = await this.pool.query<AuditRow>(
      `SELECT id, time, action, target, detail FROM ${this.s}.audit WHERE id > $1 ORDER BY id LIMIT $2`,
      [Number.isSafeInteger(after) ? after : 0, limit + 1],
    );
    return page(rows, limit, (r) => r.id);
  }

  /** Lets go of the shared pool (the last user ends it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.release();
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

interface SubscriptionDbRow {
  id: string;
  consumer_id: string;
  consumer: string;
  route: string;
  status: SubscriptionStatus;
  created_at: number;
  updated_at: number;
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
