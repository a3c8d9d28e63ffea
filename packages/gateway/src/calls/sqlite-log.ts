import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { LogConfig } from '../config/types.js';
import { decodeCursor, encodeCursor } from '../store/ids.js';
import { addTo, type Histogram, merge } from './histogram.js';
import type { CallRecord, CallSink } from './record.js';
import { redactHeaders, storedBody } from './stored-body.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  time INTEGER NOT NULL,
  route TEXT, target TEXT, consumer TEXT, client_ip TEXT NOT NULL,
  method TEXT NOT NULL, path TEXT NOT NULL, query TEXT, resource TEXT,
  status INTEGER NOT NULL, code TEXT,
  conditional INTEGER NOT NULL, warned INTEGER NOT NULL,
  retry_of TEXT, early INTEGER,
  duration_ms REAL NOT NULL, upstream_ms REAL,
  request_bytes INTEGER NOT NULL, response_bytes INTEGER NOT NULL,
  request_id TEXT NOT NULL, traceparent TEXT NOT NULL, idempotency_key TEXT,
  detail TEXT NOT NULL
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

/** Calls queued for the writer at most; past this, new records are dropped and counted. */
const MAX_QUEUE = 20_000;
/** A batch is written at least this often, or as soon as this many records wait. */
const FLUSH_MS = 200;
const FLUSH_RECORDS = 2_000;
/** Retention deletes in slices of this many rows, so no single transaction holds the file for long. */
const DELETE_SLICE = 5_000;

/** Filters of `GET /calls` (SPEC 5.4). */
export interface CallQuery {
  readonly route?: string | undefined;
  /** An exact status, or a class (`4`) from `4xx`. */
  readonly status?: { readonly exact: number } | { readonly class: number } | undefined;
  readonly code?: string | undefined;
  readonly consumer?: string | undefined;
  readonly resource?: string | undefined;
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly cursor?: string | undefined;
}

/** A stored call as the admin API shows it. */
export type StoredCall = Record<string, unknown>;

/** Counters the metrics show. */
export interface CallLogStats {
  written: number;
  dropped: number;
  deleted: number;
}

/**
 * The call log on SQLite (SPEC 5.3). `push` only queues: a timer writes batches in one transaction
 * each, and when the writer falls behind, records are dropped and counted rather than slowing or
 * failing requests. Retention runs continuously, by age and by `maxCalls`; per-minute roll-ups
 * (counts by status and code, a latency histogram) are kept for `retention.rollups`.
 */
export class SqliteCallLog implements CallSink {
  readonly stats: CallLogStats = { written: 0, dropped: 0, deleted: 0 };
  private readonly db: Database.Database;
  private queue: CallRecord[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly retentionTimer: NodeJS.Timeout;
  private readonly insert: Database.Statement;
  private readonly upsertRollup: Database.Statement;
  private readonly readRollup: Database.Statement<
    [string, number],
    { calls: number; by_status: string; by_code: string; latency: string }
  >;

  constructor(
    path: string,
    private readonly log: LogConfig,
    private readonly now: () => number = Date.now,
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.insert = this.db
      .prepare(`INSERT OR IGNORE INTO calls (id, time, route, target, consumer, client_ip, method, path, query, resource,
      status, code, conditional, warned, retry_of, early, duration_ms, upstream_ms, request_bytes, response_bytes,
      request_id, traceparent, idempotency_key, detail)
      VALUES (@id, @time, @route, @target, @consumer, @clientIp, @method, @path, @query, @resource,
      @status, @code, @conditional, @warned, NULL, NULL, @durationMs, @upstreamMs, @requestBytes, @responseBytes,
      @requestId, @traceparent, @idempotencyKey, @detail)`);
    this.upsertRollup = this.db.prepare(
      `INSERT INTO rollups (route, minute, calls, by_status, by_code, latency) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (route, minute) DO UPDATE SET calls = excluded.calls, by_status = excluded.by_status, by_code = excluded.by_code, latency = excluded.latency`,
    );
    this.readRollup = this.db.prepare(
      'SELECT calls, by_status, by_code, latency FROM rollups WHERE route = ? AND minute = ?',
    );
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
    this.retentionTimer = setInterval(() => this.enforceRetention(), 10_000);
    this.retentionTimer.unref();
  }

  push(record: CallRecord): void {
    if (this.queue.length >= MAX_QUEUE) {
      this.stats.dropped++;
      return;
    }
    this.queue.push(record);
    if (this.queue.length >= FLUSH_RECORDS) setImmediate(() => this.flush());
  }

  /** Writes what is queued, in one transaction with its roll-ups. */
  flush(): void {
    if (this.queue.length === 0 || !this.db.open) return;
    const batch = this.queue;
    this.queue = [];
    const rollups = new Map<
      string,
      {
        route: string;
        minute: number;
        calls: number;
        byStatus: Record<string, number>;
        byCode: Record<string, number>;
        latency: Histogram;
      }
    >();
    try {
      this.db.transaction(() => {
        for (const r of batch) {
          this.insert.run(this.row(r));
          const minute = Math.floor(r.time / 60_000) * 60_000;
          const route = r.route ?? '';
          const key = `${route}\u0000${minute}`;
          let agg = rollups.get(key);
          if (!agg) {
            const stored = this.readRollup.get(route, minute);
            agg = stored
              ? {
                  route,
                  minute,
                  calls: stored.calls,
                  byStatus: JSON.parse(stored.by_status),
                  byCode: JSON.parse(stored.by_code),
                  latency: JSON.parse(stored.latency),
                }
              : { route, minute, calls: 0, byStatus: {}, byCode: {}, latency: {} };
            rollups.set(key, agg);
          }
          agg.calls++;
          agg.byStatus[r.status] = (agg.byStatus[r.status] ?? 0) + 1;
          if (r.code) agg.byCode[r.code] = (agg.byCode[r.code] ?? 0) + 1;
          addTo(agg.latency, r.durationMs);
        }
        for (const a of rollups.values()) {
          this.upsertRollup.run(
            a.route,
            a.minute,
            a.calls,
            JSON.stringify(a.byStatus),
            JSON.stringify(a.byCode),
            JSON.stringify(a.latency),
          );
        }
      })();
      this.stats.written += batch.length;
    } catch {
      // A store that cannot take the batch (disk full, locked past the busy timeout) loses it, counted.
      this.stats.dropped += batch.length;
    }
  }

  private row(r: CallRecord) {
    const bodies = this.log.bodies;
    const detail = {
      requestHeaders: redactHeaders(r.requestHeaders, this.log.redactHeaders),
      responseHeaders: redactHeaders(r.responseHeaders, this.log.redactHeaders),
      requestBody: storedBody(r.requestBody, bodies, this.log.redactPointers),
      responseBody: storedBody(r.responseBody, bodies, this.log.redactPointers),
    };
    return {
      id: r.id,
      time: r.time,
      route: r.route,
      target: r.target,
      consumer: r.consumer,
      clientIp: r.clientIp,
      method: r.method,
      path: r.path,
      query: r.query,
      resource: r.resource,
      status: r.status,
      code: r.code,
      conditional: r.conditional ? 1 : 0,
      warned: r.unconditionalWarned ? 1 : 0,
      durationMs: r.durationMs,
      upstreamMs: r.upstreamMs,
      requestBytes: r.requestBytes,
      responseBytes: r.responseBytes,
      requestId: r.requestId,
      traceparent: r.traceparent,
      idempotencyKey: r.idempotencyKey,
      detail: JSON.stringify(detail),
    };
  }

  /** Deletes raw calls past their age or past `maxCalls`, and roll-ups past theirs, in slices. */
  enforceRetention(): void {
    if (!this.db.open) return;
    const now = this.now();
    const { callsMs, rollupsMs, maxCalls } = this.log.retention;
    const oldest = now - callsMs;
    for (;;) {
      const gone = this.db
        .prepare(
          'DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE time < ? ORDER BY time LIMIT ?)',
        )
        .run(oldest, DELETE_SLICE).changes;
      this.stats.deleted += gone;
      if (gone < DELETE_SLICE) break;
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
      }
    }
    this.db.prepare('DELETE FROM rollups WHERE minute < ?').run(now - rollupsMs);
  }

  /** `GET /calls`: records without headers and bodies, newest or oldest first, by cursor. */
  query(q: CallQuery): { items: StoredCall[]; next: string | null } {
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
    if (q.since !== undefined) add('time >= ?', q.since);
    if (q.until !== undefined) add('time < ?', q.until);
    const after = Number(decodeCursor(q.cursor));
    if (q.cursor !== undefined && Number.isSafeInteger(after))
      add(q.order === 'asc' ? 'seq > ?' : 'seq < ?', after);
    const sql = `SELECT seq, id, time, route, target, consumer, client_ip, method, path, query, resource, status, code,
        conditional, warned, retry_of, early, duration_ms, upstream_ms, request_bytes, response_bytes, request_id, traceparent
        FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${q.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit + 1) as CallRow[];
    const more = rows.length > q.limit;
    const items = (more ? rows.slice(0, q.limit) : rows).map(callJson);
    return { items, next: more ? encodeCursor(rows[q.limit - 1]!.seq) : null };
  }

  /** `GET /calls/{id}`: one call with its headers and bodies. */
  get(id: string): StoredCall | undefined {
    const row = this.db.prepare('SELECT * FROM calls WHERE id = ?').get(id) as
      (CallRow & { detail: string; idempotency_key: string | null }) | undefined;
    if (!row) return undefined;
    const detail = JSON.parse(row.detail) as Record<
      string,
      { text: string; encoding: string; truncated: boolean } | null | Record<string, string>
    >;
    const body = (name: 'request' | 'response') => {
      const b = detail[`${name}Body`] as { text: string; encoding: string; truncated: boolean } | null;
      return {
        [`${name}Body`]: b ? b.text : null,
        [`${name}BodyEncoding`]: b ? b.encoding : null,
        [`${name}BodyTruncated`]: b ? b.truncated : false,
      };
    };
    return {
      ...callJson(row),
      idempotencyKey: row.idempotency_key,
      requestHeaders: detail['requestHeaders'],
      responseHeaders: detail['responseHeaders'],
      ...body('request'),
      ...body('response'),
    };
  }

  /** Raw-call count, for tests and metrics. */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;
  }

  /** Flushes what is queued and closes the database. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.retentionTimer);
    this.flush();
    if (this.db.open) this.db.close();
  }

  /** Roll-ups merged over routes and minutes, for analytics after raw calls are gone. */
  rollups(
    route: string | undefined,
    since: number,
    until: number,
  ): {
    minute: number;
    calls: number;
    byStatus: Record<string, number>;
    byCode: Record<string, number>;
    latency: Histogram;
  }[] {
    const rows = this.db
      .prepare(
        `SELECT minute, calls, by_status, by_code, latency FROM rollups WHERE minute >= ? AND minute < ? ${route === undefined ? '' : 'AND route = ?'} ORDER BY minute`,
      )
      .all(...(route === undefined ? [since, until] : [since, until, route])) as {
      minute: number;
      calls: number;
      by_status: string;
      by_code: string;
      latency: string;
    }[];
    return rows.map((r) => {
      const latency: Histogram = {};
      merge(latency, JSON.parse(r.latency) as Histogram);
      return {
        minute: r.minute,
        calls: r.calls,
        byStatus: JSON.parse(r.by_status),
        byCode: JSON.parse(r.by_code),
        latency,
      };
    });
  }
}

interface CallRow {
  seq: number;
  id: string;
  time: number;
  route: string | null;
  target: string | null;
  consumer: string | null;
  client_ip: string;
  method: string;
  path: string;
  query: string | null;
  resource: string | null;
  status: number;
  code: string | null;
  conditional: number;
  warned: number;
  retry_of: string | null;
  early: number | null;
  duration_ms: number;
  upstream_ms: number | null;
  request_bytes: number;
  response_bytes: number;
  request_id: string;
  traceparent: string;
}

function callJson(r: CallRow): StoredCall {
  return {
    id: r.id,
    requestId: r.request_id,
    traceparent: r.traceparent,
    time: new Date(r.time).toISOString(),
    route: r.route,
    target: r.target,
    consumer: r.consumer,
    clientIp: r.client_ip,
    method: r.method,
    path: r.path,
    query: r.query,
    resource: r.resource,
    status: r.status,
    code: r.code,
    conditional: r.conditional === 1,
    unconditionalWarned: r.warned === 1,
    retryOf: r.retry_of,
    early: r.early === null ? false : r.early === 1,
    durationMs: Math.round(r.duration_ms * 1000) / 1000,
    upstreamMs: r.upstream_ms === null ? null : Math.round(r.upstream_ms * 1000) / 1000,
    requestBytes: r.request_bytes,
    responseBytes: r.response_bytes,
  };
}
