import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { LogConfig } from '../config/types.js';
import { decodeCursor, encodeCursor } from '../store/ids.js';
import type { Page } from '../store/types.js';
import { type Histogram, merge } from './histogram.js';
import { ANALYTICS_INDEXES, rawAnalytics, REPLACED_INDEX } from './analytics-sql.js';
import { KeyRollups, sqliteDriver } from './key-rollup-drivers.js';
import {
  HOUR,
  KEY_DELTA_COLUMNS,
  keyDeltas,
  keyDeltaValues,
  keyRollupSchema,
  keyUpsertSet,
} from './key-rollups.js';
import {
  LIFECYCLE_RETENTION_SQL,
  lifecycleDeltas,
  lifecycleRetention,
  lifecycleUsage,
  lifecycleUsageQuery,
  type LifecycleUsage,
  SQLITE_LIFECYCLE_SCHEMA,
  SQLITE_LIFECYCLE_UPSERT,
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
  mergeCounts,
  rollupDeltas,
  STALE_BY_SQL,
  STALE_STATUSES,
  type StaleBy,
} from './stored-call.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  time INTEGER NOT NULL,
  route TEXT, target TEXT, consumer TEXT, client_ip TEXT NOT NULL,
  method TEXT NOT NULL, path TEXT NOT NULL, query TEXT, resource TEXT,
  status INTEGER NOT NULL, code TEXT,
  conditional INTEGER NOT NULL, warned INTEGER NOT NULL,
  retry_of TEXT, early INTEGER, blind INTEGER,
  stale_by_id TEXT, stale_by_consumer TEXT, stale_by_time INTEGER,
  duration_ms REAL NOT NULL, upstream_ms REAL,
  request_bytes INTEGER NOT NULL, response_bytes INTEGER NOT NULL,
  request_id TEXT NOT NULL, traceparent TEXT NOT NULL, idempotency_key TEXT,
  detail TEXT NOT NULL,
  ai_alias TEXT, ai_provider TEXT, ai_model TEXT, tokens_in INTEGER, tokens_out INTEGER, cost REAL,
  ai_estimated INTEGER, ai_attempts INTEGER, ai_stream INTEGER, ttft_ms REAL,
  prompt TEXT, prompt_version TEXT, conversation TEXT
);
CREATE INDEX IF NOT EXISTS calls_time ON calls (time);
CREATE INDEX IF NOT EXISTS calls_route ON calls (route, seq);
CREATE INDEX IF NOT EXISTS calls_resource ON calls (resource, seq) WHERE resource IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_consumer ON calls (consumer, seq) WHERE consumer IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_status ON calls (status, seq);
CREATE INDEX IF NOT EXISTS calls_code ON calls (code, seq) WHERE code IS NOT NULL;
CREATE TABLE IF NOT EXISTS rollups (
  route TEXT NOT NULL,
  minute INTEGER NOT NULL,
  calls INTEGER NOT NULL,
  by_status TEXT NOT NULL,
  by_code TEXT NOT NULL,
  latency TEXT NOT NULL,
  PRIMARY KEY (route, minute)
);
CREATE INDEX IF NOT EXISTS rollups_minute ON rollups (minute);
`;

/** The hourly route roll-ups: the minutes' counts, added to by the writer in the same transaction. */
const HOURS_SCHEMA = `
CREATE TABLE rollup_hours (
  route TEXT NOT NULL,
  hour INTEGER NOT NULL,
  calls INTEGER NOT NULL,
  by_status TEXT NOT NULL,
  by_code TEXT NOT NULL,
  latency TEXT NOT NULL,
  PRIMARY KEY (route, hour)
);
CREATE INDEX rollup_hours_hour ON rollup_hours (hour);
`;

/** Columns added since, for a database file an older Truce created: issue 12's, then the AI routes'. */
const ADDED_COLUMNS = [
  'blind INTEGER',
  'stale_by_id TEXT',
  'stale_by_consumer TEXT',
  'stale_by_time INTEGER',
  // AI routes (record.ts `AiCallInfo`): null on other calls.
  'ai_alias TEXT',
  'ai_provider TEXT',
  'ai_model TEXT',
  'tokens_in INTEGER',
  'tokens_out INTEGER',
  'cost REAL',
  'ai_estimated INTEGER',
  'ai_attempts INTEGER',
  'ai_stream INTEGER',
  'ttft_ms REAL',
  'prompt TEXT',
  'prompt_version TEXT',
  'conversation TEXT',
];

/** A batch is written at least this often, or as soon as this many records wait. */
const FLUSH_MS = 200;
const FLUSH_RECORDS = 2_000;
/**
 * Retention deletes in slices of this many rows, each its own transaction with the event loop free
 * between them: on this synchronous driver a slice holds the proxy too, so it is kept to a few ms.
 */
const DELETE_SLICE = 1_000;
/**
 * The log connection's page cache, in KiB. better-sqlite3 builds SQLite with 16 MiB per connection,
 * and a log of a million calls fills it: 16 MiB of the gateway's resident memory (SPEC 7 B5). A
 * batch of inserts touches the last page of the table and of most indexes, and one page per
 * resource written in `calls_resource` and per id in the unique index; a page the cache no longer
 * holds is read again from the operating system's file cache (a system call, no disk). In B5
 * (1,000 resources) 4 MiB cost no measurable CPU per call and 12 MiB less memory.
 */
const PAGE_CACHE_KIB = 4_096;

export type { CallLogStats, CallQuery, StoredCall } from './log.js';

/** Lets the proxy's pending work run between two synchronous slices of background work. */
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The call log on SQLite (SPEC 5.3). `push` only queues: a timer writes batches in one transaction
 * each, and when the writer falls behind, records are dropped and counted rather than slowing or
 * failing requests. Retention runs continuously, by age and by `maxCalls`; per-minute roll-ups
 * (counts by status and code, a latency histogram) are kept for `retention.rollups`.
 */
export class SqliteCallLog implements CallLog {
  readonly stats: CallLogStats = { written: 0, dropped: 0, deleted: 0 };
  private readonly db: Database.Database;
  /** Bounded by count and bytes (queue.ts); past either bound new records are dropped and counted. */
  private readonly queue = new RecordQueue();
  private readonly timer: NodeJS.Timeout;
  private readonly retentionTimer: NodeJS.Timeout;
  private readonly insert: Database.Statement;
  private readonly upsertRollup: Database.Statement;
  private readonly upsertLifecycle: Database.Statement;
  private readonly upsertHour: Database.Statement;
  private readonly upsertKey: Database.Statement;
  private readonly linker = new CallLinker();
  private retention: Promise<void> = Promise.resolve();
  readonly analytics: CallAnalytics;
  readonly keys: KeyRollups;

  constructor(
    path: string,
    private readonly log: LogConfig,
    private readonly now: () => number = Date.now,
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      this.db.exec(SCHEMA);
      this.db.exec(SQLITE_LIFECYCLE_SCHEMA);
      const have = new Set(
        (this.db.prepare('PRAGMA table_info(calls)').all() as { name: string }[]).map((c) => c.name),
      );
      for (const column of ADDED_COLUMNS)
        if (!have.has(column.split(' ')[0]!)) this.db.exec(`ALTER TABLE calls ADD COLUMN ${column}`);
      // The usage report's range read of AI calls (analytics-sql.ts `usage`; PostgreSQL's migration 6).
      this.db.exec('CREATE INDEX IF NOT EXISTS calls_ai ON calls (time) WHERE ai_alias IS NOT NULL');
      this.db.exec(`DROP INDEX IF EXISTS ${REPLACED_INDEX}`);
      for (const index of ANALYTICS_INDEXES) this.db.exec(`CREATE INDEX IF NOT EXISTS ${index}`);
      this.db.exec(keyRollupSchema('INTEGER').replaceAll('{s}', ''));
      this.insert = this.db
        .prepare(`INSERT OR IGNORE INTO calls (id, time, route, target, consumer, client_ip, method, path, query, resource,
        status, code, conditional, warned, retry_of, early, blind, stale_by_id, stale_by_consumer, stale_by_time,
        duration_ms, upstream_ms, request_bytes, response_bytes, request_id, traceparent, idempotency_key, detail,
        ${AI_COLUMNS.join(', ')})
        VALUES (@id, @time, @route, @target, @consumer, @clientIp, @method, @path, @query, @resource,
        @status, @code, @conditional, @warned, @retryOf, @early, @blind, @staleById, @staleByConsumer, @staleByTime,
        @durationMs, @upstreamMs, @requestBytes, @responseBytes, @requestId, @traceparent, @idempotencyKey, @detail,
        @aiAlias, @aiProvider, @aiModel, @tokensIn, @tokensOut, @cost, @aiEstimated, @aiAttempts, @aiStream,
        @ttftMs, @prompt, @promptVersion, @conversation)`);
      // Roll-ups are added to in SQL, never read and written back: several processes may write the
      // same route's minute, and each adds its own counts under the write lock.
      this.db.function('truce_merge_counts', { deterministic: true }, (a, b) =>
        mergeCounts(String(a), String(b)),
      );
      this.addHours();
      this.upsertRollup = this.db.prepare(
        `INSERT INTO rollups (route, minute, calls, by_status, by_code, latency) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (route, minute) DO UPDATE SET calls = calls + excluded.calls,
           by_status = truce_merge_counts(by_status, excluded.by_status),
           by_code = truce_merge_counts(by_code, excluded.by_code),
           latency = truce_merge_counts(latency, excluded.latency)`,
      );
      this.upsertLifecycle = this.db.prepare(SQLITE_LIFECYCLE_UPSERT);
      this.upsertHour = this.db.prepare(
        `INSERT INTO rollup_hours (route, hour, calls, by_status, by_code, latency) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (route, hour) DO UPDATE SET calls = calls + excluded.calls,
           by_status = truce_merge_counts(by_status, excluded.by_status),
           by_code = truce_merge_counts(by_code, excluded.by_code),
           latency = truce_merge_counts(latency, excluded.latency)`,
      );
      this.upsertKey = this.db.prepare(
        `INSERT INTO key_rollups (${KEY_DELTA_COLUMNS.join(', ')}) VALUES (${KEY_DELTA_COLUMNS.map(() => '?').join(', ')})
         ON CONFLICT (dim, span, start, key) DO UPDATE SET ${keyUpsertSet('', (a, b) => `truce_merge_counts(${a}, ${b})`)}`,
      );
      this.analytics = rawAnalytics(
        async (sql, args) => this.db.prepare(sql).all(...args) as Record<string, unknown>[],
      );
      this.keys = new KeyRollups(sqliteDriver(this.db));
      this.timer = setInterval(() => this.writeQueued(), FLUSH_MS);
      this.timer.unref();
      this.retentionTimer = setInterval(() => void this.enforceRetention().catch(() => undefined), 10_000);
      this.retentionTimer.unref();
    } catch (error) {
      // A file another process holds while setting it up (SQLITE_BUSY) is opened again (storage/open.ts).
      this.db.close();
      throw error;
    }
  }

  push(record: CallRecord): void {
    if (!this.queue.offer(record)) {
      this.stats.dropped++;
      return;
    }
    if (this.queue.length >= FLUSH_RECORDS) setImmediate(() => this.writeQueued());
  }

  /**
   * Creates the hourly roll-ups where a file has none yet, filled from the minutes it holds, in
   * one transaction (a file from before them).
   */
  private addHours(): void {
    const have = () =>
      this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollup_hours'").get();
    if (have()) return;
    this.db
      .transaction(() => {
        // Looked at again under the write lock: another process opening the file may have made it.
        if (have()) return;
        this.db.exec(HOURS_SCHEMA);
        const hours = new Map<string, { route: string; hour: number; calls: number; counts: Histogram[] }>();
        const rows = this.db
          .prepare('SELECT route, minute, calls, by_status, by_code, latency FROM rollups')
          .iterate() as Iterable<{ route: string; minute: number; calls: number } & Record<string, string>>;
        for (const r of rows) {
          const hour = Math.floor(r.minute / HOUR) * HOUR;
          const id = `${r.route}\u0000${hour}`;
          let h = hours.get(id);
          if (!h) hours.set(id, (h = { route: r.route, hour, calls: 0, counts: [{}, {}, {}] }));
          h.calls += r.calls;
          ['by_status', 'by_code', 'latency'].forEach((c, i) =>
            merge(h.counts[i]!, JSON.parse(r[c]!) as Histogram),
          );
        }
        const insert = this.db.prepare(
          'INSERT INTO rollup_hours (route, hour, calls, by_status, by_code, latency) VALUES (?, ?, ?, ?, ?, ?)',
        );
        for (const h of hours.values())
          insert.run(h.route, h.hour, h.calls, ...h.counts.map((c) => JSON.stringify(c)));
      })
      .immediate();
  }

  /** Writes what is queued, in one transaction with its roll-ups. */
  async flush(): Promise<void> {
    this.writeQueued();
  }

  private writeQueued(): void {
    if (this.queue.length === 0 || !this.db.open) return;
    const batch = this.queue.take();
    try {
      // IMMEDIATE: the write lock is taken first, so another process's commit cannot come between.
      this.db
        .transaction(() => {
          const links = batch.map((r) => {
            const c = callColumns(r, this.log, this.linker.link(r));
            this.insert.run({
              ...c,
              conditional: c.conditional ? 1 : 0,
              warned: c.warned ? 1 : 0,
              early: c.early ? 1 : 0,
              blind: c.blind ? 1 : 0,
              aiEstimated: c.aiEstimated === null ? null : c.aiEstimated ? 1 : 0,
              aiStream: c.aiStream === null ? null : c.aiStream ? 1 : 0,
            });
            return c;
          });
          for (const [upsert, span] of [
            [this.upsertRollup, 60_000],
            [this.upsertHour, HOUR],
          ] as const)
            for (const d of rollupDeltas(batch, span))
              upsert.run(
                d.route,
                d.minute,
                d.calls,
                JSON.stringify(d.byStatus),
                JSON.stringify(d.byCode),
                JSON.stringify(d.latency),
              );
          for (const d of keyDeltas(batch, links)) this.upsertKey.run(...keyDeltaValues(d));
          for (const d of lifecycleDeltas(batch))
            this.upsertLifecycle.run(d.route, d.consumer, d.span, d.start, d.calls, d.gone, d.lastAt);
        })
        .immediate();
      this.stats.written += batch.length;
    } catch {
      // A store that cannot take the batch (disk full, locked past the busy timeout) loses it, counted.
      this.stats.dropped += batch.length;
    }
  }

  /** Rolls up per key, then deletes raw calls past their age or past `maxCalls`, and roll-ups past theirs. */
  async enforceRetention(): Promise<void> {
    // The steps yield between them, so a run may still be going when another is asked for: runs
    // go one after the other, each seeing what the one before left.
    const run = this.retention.then(() => this.retain());
    this.retention = run.catch(() => undefined);
    return run;
  }

  private async retain(): Promise<void> {
    if (!this.db.open) return;
    const now = this.now();
    const { callsMs, rollupsMs, maxCalls } = this.log.retention;
    // Before the raw calls go; a roll-up that fails (the file locked too long) still lets them go.
    const failed = await this.keys.rollUp(now, rollupsMs).then(
      () => undefined,
      (error: unknown) => error,
    );
    const oldest = now - callsMs;
    for (;;) {
      const gone = this.db
        .prepare(
          'DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE time < ? ORDER BY time LIMIT ?)',
        )
        .run(oldest, DELETE_SLICE).changes;
      this.stats.deleted += gone;
      if (gone < DELETE_SLICE) break;
      await yieldToLoop();
    }
    const newest = (this.db.prepare('SELECT max(seq) AS s FROM calls').get() as { s: number | null }).s;
    if (newest !== null) {
      for (;;) {
        const gone = this.db
          .prepare(
            'DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE seq <= ? ORDER BY seq LIMIT ?)',
          )
          .run(newest - maxCalls, DELETE_SLICE).changes;
        this.stats.deleted += gone;
        if (gone < DELETE_SLICE) break;
        await yieldToLoop();
      }
    }
    this.db.prepare('DELETE FROM rollups WHERE minute < ?').run(now - rollupsMs);
    const dropLifecycle = this.db.prepare(LIFECYCLE_RETENTION_SQL);
    for (const args of lifecycleRetention(now - rollupsMs)) dropLifecycle.run(...args);
    this.db
      .prepare('DELETE FROM rollup_hours WHERE hour < ?')
      .run(Math.floor((now - rollupsMs) / HOUR) * HOUR);
    if (failed !== undefined) throw failed;
  }

  /** `GET /calls`: records without headers and bodies, newest or oldest first, by cursor. */
  async query(q: CallQuery): Promise<Page<StoredCall>> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
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
    const sql = `SELECT ${LIST_COLUMNS}
        FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${q.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit + 1) as CallRow[];
    const more = rows.length > q.limit;
    const items = (more ? rows.slice(0, q.limit) : rows).map(callJson);
    return { items, next: more ? encodeCursor(rows[q.limit - 1]!.seq) : null };
  }

  /** `GET /calls/{id}`: one call with its headers and bodies. */
  async get(id: string): Promise<StoredCall | undefined> {
    const row = this.db.prepare('SELECT * FROM calls WHERE id = ?').get(id) as
      (FullCallRow & { seq: number }) | undefined;
    if (!row) return undefined;
    // A conflict whose stale-by write was past the writer's in-memory horizon: look it up.
    const found =
      row.stale_by_id === null &&
      row.resource !== null &&
      (STALE_STATUSES as readonly number[]).includes(row.status)
        ? (this.db.prepare(STALE_BY_SQL).get(row.resource, row.seq) as StaleBy | undefined)
        : undefined;
    return fullCallJson(row, found);
  }

  /** Raw-call count, for tests and metrics. */
  async count(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;
  }

  /** Flushes what is queued and closes the database. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.retentionTimer);
    // A retention run between two of its steps finishes first rather than meet a closed file.
    await this.retention;
    this.writeQueued();
    if (this.db.open) this.db.close();
  }

  /** Calls to lifecycle routes by route and consumer over whole minutes of [since, until). */
  async lifecycleUsage(since: number, until: number): Promise<LifecycleUsage[]> {
    const q = lifecycleUsageQuery(since, until);
    if (!q) return [];
    return (this.db.prepare(q.sql).all(...q.args) as Record<string, unknown>[]).map(lifecycleUsage);
  }

  /** Roll-ups of a route, or of every route, by minute or hour, for analytics after raw calls are gone. */
  async rollups(
    route: string | undefined,
    since: number,
    until: number,
    read: RollupRead = {},
  ): Promise<Rollup[]> {
    const [table, start] = read.span === 'hour' ? ['rollup_hours', 'hour'] : ['rollups', 'minute'];
    const codes = read.codes !== false;
    const rows = this.db
      .prepare(
        `SELECT ${start} AS minute, calls, by_status, ${codes ? 'by_code' : "'{}' AS by_code"}, latency FROM ${table}
          WHERE ${start} >= ? AND ${start} < ? ${route === undefined ? '' : 'AND route = ?'} ORDER BY ${start}, route`,
      )
      .all(...(route === undefined ? [since, until] : [since, until, route])) as {
      minute: number;
      calls: number;
      by_status: string;
      by_code: string;
      latency: string;
    }[];
    // The parsed JSON is the histogram as it is: its keys are bucket indexes, as strings.
    return rows.map((r) => ({
      minute: r.minute,
      calls: r.calls,
      byStatus: JSON.parse(r.by_status) as Record<string, number>,
      byCode: JSON.parse(r.by_code) as Record<string, number>,
      latency: JSON.parse(r.latency) as Histogram,
    }));
  }

  async rolledCalls(route: string | undefined, since: number, until: number): Promise<number> {
    const row = this.db
      .prepare(
        `SELECT coalesce(sum(calls), 0) AS n FROM rollups WHERE minute >= ? AND minute < ?${route === undefined ? '' : ' AND route = ?'}`,
      )
      .get(...(route === undefined ? [since, until] : [since, until, route])) as { n: number };
    return row.n;
  }
}
