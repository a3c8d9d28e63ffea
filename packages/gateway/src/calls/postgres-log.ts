import type pg from 'pg';
import type { LogConfig } from '../config/types.js';
import { type PostgresDatabase, sqlState } from '../storage/postgres.js';
import { decodeCursor, encodeCursor } from '../store/ids.js';
import type { Page } from '../store/types.js';
import type { Histogram } from './histogram.js';
import { numbered, rawAnalytics } from './analytics-sql.js';
import { KeyRollups, postgresDriver } from './key-rollup-drivers.js';
import { HOUR, KEY_DELTA_COLUMNS, keyDeltas, keyDeltaValues, keyUpsertSet } from './key-rollups.js';
import {
  LIFECYCLE_RETENTION_SQL,
  lifecycleDeltas,
  lifecycleRetention,
  lifecycleUsage,
  lifecycleUsageQuery,
  type LifecycleUsage,
  postgresLifecycleUpsert,
} from './lifecycle-rollups.js';
import { CallLinker } from './links.js';
import type {
  CallAnalytics,
  CallLog,
  CallLogStats,
  CallQuery,
  Rollup,
  RollupRead,
  StoredCall,
} from './log.js';
import { RecordQueue } from './queue.js';
import type { CallRecord } from './record.js';
import {
  AI_COLUMNS,
  callColumns,
  callJson,
  type CallRow,
  type FullCallRow,
  fullCallJson,
  LIST_COLUMNS,
  rollupDeltas,
  STALE_BY_SQL,
  STALE_STATUSES,
  type StaleBy,
} from './stored-call.js';

/** A batch is written at least this often, or as soon as this many records wait. */
const FLUSH_MS = 200;
const FLUSH_RECORDS = 2_000;
/** Retention deletes in slices of this many rows, so no transaction holds many row locks for long. */
const DELETE_SLICE = 5_000;
const RETENTION_MS = 10_000;
/** A batch that lost a deadlock is written again this often before it is dropped. */
const DEADLOCK_RETRIES = 3;

/**
 * The call log on PostgreSQL (SPEC 5.3), shared by several gateway processes. `push` only queues;
 * one writer at a time takes up to {@link FLUSH_RECORDS} records and writes them in one transaction:
 * one multi-row INSERT (arrays through `unnest`) and one upsert of the batch's roll-ups, which adds
 * counts and histograms to what other processes wrote for the same minute (`truce_merge_counts`).
 * When PostgreSQL is slow or down the queue fills and new records are dropped, and a batch that
 * cannot be written is dropped too, all counted in `stats.dropped`: no request ever waits for the
 * log. Retention deletes in slices and skips rows another process is deleting.
 */
export class PostgresCallLog implements CallLog {
  readonly stats: CallLogStats = { written: 0, dropped: 0, deleted: 0 };
  private readonly s: string;
  private readonly pool: pg.Pool;
  /** Bounded by count and bytes (queue.ts); past either bound new records are dropped and counted. */
  private readonly queue = new RecordQueue();
  private writing: Promise<void> | undefined;
  private retaining = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly retentionTimer: NodeJS.Timeout;
  private readonly linker = new CallLinker();
  readonly analytics: CallAnalytics;
  readonly keys: KeyRollups;

  constructor(
    private readonly db: PostgresDatabase,
    private readonly log: LogConfig,
    private readonly now: () => number = Date.now,
  ) {
    db.use();
    this.s = db.s;
    this.pool = db.pool;
    // The shared queries name `calls`; here it lives in the gateway's schema.
    this.analytics = rawAnalytics(
      async (sql, args) =>
        (await this.pool.query(numbered(sql).replace(/\bFROM calls\b/g, `FROM ${this.s}.calls`), [...args]))
          .rows as Record<string, unknown>[],
    );
    this.keys = new KeyRollups(postgresDriver(this.pool, this.s, db.schema));
    this.timer = setInterval(() => this.kick(), FLUSH_MS);
    this.timer.unref();
    this.retentionTimer = setInterval(
      () => void this.enforceRetention().catch(() => undefined),
      RETENTION_MS,
    );
    this.retentionTimer.unref();
  }

  push(record: CallRecord): void {
    if (this.closed || !this.queue.offer(record)) {
      this.stats.dropped++;
      return;
    }
    if (this.queue.length >= FLUSH_RECORDS) this.kick();
  }

  /** Starts the writer unless it is running; it writes batches until the queue is empty. */
  private kick(): void {
    if (this.writing || this.queue.length === 0) return;
    this.writing = this.drain().finally(() => (this.writing = undefined));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.take(FLUSH_RECORDS);
      try {
        await this.write(batch);
        this.stats.written += batch.length;
      } catch (error) {
        // PostgreSQL down, or the batch refused: lost, and counted, never a request's problem. When
        // the server cannot be reached at all, what waits is dropped too rather than tried batch by
        // batch, each waiting out the connection timeout (a stop would otherwise take that long).
        this.stats.dropped += batch.length;
        if (isUnreachable(error)) {
          this.stats.dropped += this.queue.clear();
        }
      }
    }
  }

  async flush(): Promise<void> {
    this.kick();
    await this.writing;
  }

  private async write(batch: readonly CallRecord[]): Promise<void> {
    const rows = batch.map((r) => callColumns(r, this.log, this.linker.link(r)));
    // PostgreSQL text cannot hold U+0000; a client's NUL must not cost the whole batch.
    const col = <K extends keyof (typeof rows)[number]>(k: K) =>
      rows.map((r) => {
        const v = r[k];
        return typeof v === 'string' && v.includes('\u0000') ? v.replaceAll('\u0000', '\ufffd') : v;
      });
    const deltas = rollupDeltas(batch);
    const lifecycle = lifecycleDeltas(batch);
    const hours = rollupDeltas(batch, HOUR);
    const keyed = keyDeltas(batch, rows).map(keyDeltaValues);
    // Keys and codes as the calls store them; a NUL's JSON escape would not pass the jsonb merge either.
    const keyColumn = (i: number) =>
      keyed.map((values) => {
        const v = values[i];
        return typeof v === 'string' ? v.replaceAll('\u0000', '\ufffd').replaceAll('\\u0000', '\\ufffd') : v;
      });
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        await client.query({
          name: 'truce_gw_calls_insert',
          text: `INSERT INTO ${this.s}.calls (id, time, route, target, consumer, client_ip, method, path, query,
              resource, status, code, conditional, warned, duration_ms, upstream_ms, request_bytes, response_bytes,
              request_id, traceparent, idempotency_key, detail, retry_of, early, blind, stale_by_id,
              stale_by_consumer, stale_by_time, ${AI_COLUMNS.join(', ')})
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
              $7::text[], $8::text[], $9::text[], $10::text[], $11::integer[], $12::text[], $13::boolean[],
              $14::boolean[], $15::float8[], $16::float8[], $17::bigint[], $18::bigint[], $19::text[],
              $20::text[], $21::text[], $22::text[], $23::text[], $24::boolean[], $25::boolean[], $26::text[],
              $27::text[], $28::bigint[], $29::text[], $30::text[], $31::text[], $32::bigint[], $33::bigint[],
              $34::float8[], $35::boolean[], $36::integer[], $37::boolean[], $38::float8[], $39::text[],
              $40::text[], $41::text[])
            ON CONFLICT (id) DO NOTHING`,
          values: [
            col('id'),
            col('time'),
            col('route'),
            col('target'),
            col('consumer'),
            col('clientIp'),
            col('method'),
            col('path'),
            col('query'),
            col('resource'),
            col('status'),
            col('code'),
            col('conditional'),
            col('warned'),
            col('durationMs'),
            col('upstreamMs'),
            col('requestBytes'),
            col('responseBytes'),
            col('requestId'),
            col('traceparent'),
            col('idempotencyKey'),
            col('detail'),
            col('retryOf'),
            col('early'),
            col('blind'),
            col('staleById'),
            col('staleByConsumer'),
            col('staleByTime'),
            col('aiAlias'),
            col('aiProvider'),
            col('aiModel'),
            col('tokensIn'),
            col('tokensOut'),
            col('cost'),
            col('aiEstimated'),
            col('aiAttempts'),
            col('aiStream'),
            col('ttftMs'),
            col('prompt'),
            col('promptVersion'),
            col('conversation'),
          ],
        });
        await client.query({
          name: 'truce_gw_rollups_upsert',
          text: `INSERT INTO ${this.s}.rollups AS r (route, minute, calls, by_status, by_code, latency)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::jsonb[], $5::jsonb[], $6::jsonb[])
            ON CONFLICT (route, minute) DO UPDATE SET calls = r.calls + excluded.calls,
              by_status = ${this.s}.truce_merge_counts(r.by_status, excluded.by_status),
              by_code = ${this.s}.truce_merge_counts(r.by_code, excluded.by_code),
              latency = ${this.s}.truce_merge_counts(r.latency, excluded.latency)`,
          values: [
            deltas.map((d) => d.route),
            deltas.map((d) => d.minute),
            deltas.map((d) => d.calls),
            deltas.map((d) => JSON.stringify(d.byStatus)),
            deltas.map((d) => JSON.stringify(d.byCode)),
            deltas.map((d) => JSON.stringify(d.latency)),
          ],
        });
        if (lifecycle.length > 0) await client.query(postgresLifecycleUpsert(this.s, lifecycle));
        await client.query({
          name: 'truce_gw_rollup_hours_upsert',
          text: `INSERT INTO ${this.s}.rollup_hours AS r (route, hour, calls, by_status, by_code, latency)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::jsonb[], $5::jsonb[], $6::jsonb[])
            ON CONFLICT (route, hour) DO UPDATE SET calls = r.calls + excluded.calls,
              by_status = ${this.s}.truce_merge_counts(r.by_status, excluded.by_status),
              by_code = ${this.s}.truce_merge_counts(r.by_code, excluded.by_code),
              latency = ${this.s}.truce_merge_counts(r.latency, excluded.latency)`,
          values: [
            hours.map((d) => d.route),
            hours.map((d) => d.minute),
            hours.map((d) => d.calls),
            hours.map((d) => JSON.stringify(d.byStatus)),
            hours.map((d) => JSON.stringify(d.byCode)),
            hours.map((d) => JSON.stringify(d.latency)),
          ],
        });
        await client.query({
          name: 'truce_gw_key_rollups_upsert',
          text: `INSERT INTO ${this.s}.key_rollups AS r (${KEY_DELTA_COLUMNS.join(', ')})
            SELECT * FROM unnest(${KEY_DELTA_COLUMNS.map((c, i) => `$${i + 1}::${c === 'dim' || c === 'key' || c === 'by_code' ? 'text' : 'bigint'}[]`).join(', ')})
            ON CONFLICT (dim, span, start, key) DO UPDATE SET ${keyUpsertSet('r.', (a, b) => `${this.s}.truce_merge_counts(${a}::jsonb, ${b}::jsonb)::text`)}`,
          values: KEY_DELTA_COLUMNS.map((_, i) => keyColumn(i)),
        });
        await client.query('COMMIT');
        return;
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        // Deltas are sorted, so writers lock roll-ups in one order; a deadlock is still run again.
        if (sqlState(error) !== '40P01' || attempt >= DEADLOCK_RETRIES) throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  async enforceRetention(): Promise<void> {
    if (this.retaining || this.closed) return;
    this.retaining = true;
    try {
      const now = this.now();
      const { callsMs, rollupsMs, maxCalls } = this.log.retention;
      // Before the raw calls go; a roll-up that fails still lets them go, and is reported after.
      const failed = await this.keys.rollUp(now, rollupsMs).then(
        () => undefined,
        (error: unknown) => error,
      );
      const slice = async (where: string, value: number, order: string) => {
        for (;;) {
          const result = await this.pool.query(
            `DELETE FROM ${this.s}.calls WHERE seq IN (
               SELECT seq FROM ${this.s}.calls WHERE ${where} ORDER BY ${order} LIMIT $2 FOR UPDATE SKIP LOCKED)`,
            [value, DELETE_SLICE],
          );
          const gone = result.rowCount ?? 0;
          this.stats.deleted += gone;
          if (gone < DELETE_SLICE) return;
        }
      };
      await slice('time < $1', now - callsMs, 'time');
      const { rows } = await this.pool.query<{ s: number | null }>(
        `SELECT max(seq) AS s FROM ${this.s}.calls`,
      );
      const newest = rows[0]?.s ?? null;
      if (newest !== null) await slice('seq <= $1', newest - maxCalls, 'seq');
      await this.pool.query(`DELETE FROM ${this.s}.rollups WHERE minute < $1`, [now - rollupsMs]);
      const dropLifecycle = numbered(LIFECYCLE_RETENTION_SQL).replace(
        'lifecycle_rollups',
        `${this.s}.lifecycle_rollups`,
      );
      for (const args of lifecycleRetention(now - rollupsMs)) await this.pool.query(dropLifecycle, args);
      await this.pool.query(`DELETE FROM ${this.s}.rollup_hours WHERE hour < $1`, [
        Math.floor((now - rollupsMs) / HOUR) * HOUR,
      ]);
      if (failed !== undefined) throw failed;
    } finally {
      this.retaining = false;
    }
  }

  async query(q: CallQuery): Promise<Page<StoredCall>> {
    // Stored values never hold U+0000 (see write), and PostgreSQL refuses it in a parameter.
    if ([q.route, q.code, q.consumer, q.resource, q.model].some((v) => v?.includes('\u0000')))
      return { items: [], next: null };
    const where: string[] = [];
    const args: (string | number)[] = [];
    // One helper per filter, as on SQLite; each `?` becomes the next numbered placeholder.
    const add = (clause: string, ...values: (string | number)[]) => {
      let i = args.length;
      where.push(clause.replace(/\?/g, () => `$${++i}`));
      args.push(...values);
    };
    if (q.route !== undefined) add('route = ?', q.route);
    if (q.status !== undefined) {
      if ('exact' in q.status) add('status = ?', q.status.exact);
      else add('status >= ? AND status < ?', q.status.class * 100, q.status.class * 100 + 100);
    }
    if (q.code !== undefined) add('code = ?', q.code);
    if (q.consumer !== undefined) add('consumer = ?', q.consumer);
    if (q.resource !== undefined) add('resource = ?', q.resource);
    if (q.model !== undefined) add('(ai_model = ? OR ai_alias = ?)', q.model, q.model);
    if (q.since !== undefined) add('time >= ?', q.since);
    if (q.until !== undefined) add('time < ?', q.until);
    const after = Number(decodeCursor(q.cursor));
    if (q.cursor !== undefined && Number.isSafeInteger(after))
      add(q.order === 'asc' ? 'seq > ?' : 'seq < ?', after);
    args.push(q.limit + 1);
    const { rows } = await this.pool.query<CallRow>(
      `SELECT ${LIST_COLUMNS} FROM ${this.s}.calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY seq ${q.order === 'asc' ? 'ASC' : 'DESC'} LIMIT $${args.length}`,
      args,
    );
    const more = rows.length > q.limit;
    const items = (more ? rows.slice(0, q.limit) : rows).map(callJson);
    return { items, next: more ? encodeCursor(rows[q.limit - 1]!.seq) : null };
  }

  async get(id: string): Promise<StoredCall | undefined> {
    if (id.includes('\u0000')) return undefined;
    const { rows } = await this.pool.query<FullCallRow & { seq: number }>(
      `SELECT * FROM ${this.s}.calls WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    // A conflict whose stale-by write was past the writer's in-memory horizon: look it up.
    let found: StaleBy | undefined;
    if (
      row.stale_by_id === null &&
      row.resource !== null &&
      (STALE_STATUSES as readonly number[]).includes(row.status)
    ) {
      const sql = numbered(STALE_BY_SQL).replace('FROM calls', `FROM ${this.s}.calls`);
      found = (await this.pool.query<StaleBy>(sql, [row.resource, row.seq])).rows[0];
    }
    return fullCallJson(row, found);
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*) AS n FROM ${this.s}.calls`);
    return rows[0]?.n ?? 0;
  }

  async rollups(
    route: string | undefined,
    since: number,
    until: number,
    read: RollupRead = {},
  ): Promise<Rollup[]> {
    const [table, start] = read.span === 'hour' ? ['rollup_hours', 'hour'] : ['rollups', 'minute'];
    const { rows } = await this.pool.query<{
      minute: number;
      calls: number;
      by_status: Record<string, number>;
      by_code: Record<string, number>;
      latency: Histogram;
    }>(
      `SELECT ${start} AS minute, calls, by_status, ${read.codes === false ? "'{}'::jsonb AS by_code" : 'by_code'}, latency
        FROM ${this.s}.${table}
        WHERE ${start} >= $1 AND ${start} < $2 AND ($3::text IS NULL OR route = $3) ORDER BY ${start}, route`,
      [since, until, route ?? null],
    );
    // The parsed JSON is the histogram as it is, as on SQLite: its keys are bucket indexes, as strings.
    return rows.map((r) => ({
      minute: r.minute,
      calls: r.calls,
      byStatus: r.by_status,
      byCode: r.by_code,
      latency: r.latency,
    }));
  }

  async rolledCalls(route: string | undefined, since: number, until: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT CAST(coalesce(sum(calls), 0) AS BIGINT) AS n FROM ${this.s}.rollups
        WHERE minute >= $1 AND minute < $2 AND ($3::text IS NULL OR route = $3)`,
      [since, until, route ?? null],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async lifecycleUsage(since: number, until: number): Promise<LifecycleUsage[]> {
    const q = lifecycleUsageQuery(since, until);
    if (!q) return [];
    const sql = numbered(q.sql).replace('FROM lifecycle_rollups', `FROM ${this.s}.lifecycle_rollups`);
    const { rows } = await this.pool.query<Record<string, unknown>>(sql, q.args);
    return rows.map(lifecycleUsage);
  }

  /** Stops the timers, writes what is queued (or drops it if PostgreSQL is down), lets go of the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    clearInterval(this.retentionTimer);
    await this.flush();
    this.closed = true;
    await this.db.release();
  }
}

/** No SQLSTATE (refused, reset, timed out) or a connection-class one: the server is not there. */
function isUnreachable(error: unknown): boolean {
  const state = sqlState(error);
  return state === undefined || state.startsWith('08') || state.startsWith('57') || /^E[A-Z]+$/.test(state);
}
