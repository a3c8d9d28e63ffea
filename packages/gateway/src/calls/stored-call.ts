import type { LogConfig } from '../config/types.js';
import { addTo, type Histogram } from './histogram.js';
import type { CallLinks } from './links.js';
import type { StoredCall } from './log.js';
import type { AiCallInfo, CallRecord } from './record.js';
import { redactHeaders, storedBody } from './stored-body.js';

/*
 * What both call-log adapters share: the columns a record becomes (redacted before anything is
 * stored), the JSON the admin API shows for a stored row, and the per-minute roll-ups of a batch.
 */

/** A record as stored: one value per column; headers and bodies in `detail` (JSON text). */
export interface CallColumns {
  readonly id: string;
  readonly time: number;
  readonly route: string | null;
  readonly target: string | null;
  readonly consumer: string | null;
  readonly clientIp: string;
  readonly method: string;
  readonly path: string;
  readonly query: string | null;
  readonly resource: string | null;
  readonly status: number;
  readonly code: string | null;
  readonly conditional: boolean;
  readonly warned: boolean;
  readonly durationMs: number;
  readonly upstreamMs: number | null;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly requestId: string;
  readonly traceparent: string;
  readonly idempotencyKey: string | null;
  readonly detail: string;
  readonly retryOf: string | null;
  readonly early: boolean;
  readonly blind: boolean;
  readonly staleById: string | null;
  readonly staleByConsumer: string | null;
  readonly staleByTime: number | null;
  /** What an AI route's call used (record.ts `AiCallInfo`); all null on other calls. */
  readonly aiAlias: string | null;
  readonly aiProvider: string | null;
  readonly aiModel: string | null;
  readonly tokensIn: number | null;
  readonly tokensOut: number | null;
  readonly cost: number | null;
  readonly aiEstimated: boolean | null;
  readonly aiAttempts: number | null;
  readonly aiStream: boolean | null;
  readonly ttftMs: number | null;
  readonly prompt: string | null;
  readonly promptVersion: string | null;
  readonly conversation: string | null;
}

const NO_LINKS: CallLinks = { retryOf: null, early: false, blind: false, staleBy: null };

/** The columns of a record, with headers and bodies redacted and cut as `log` says (SPEC 5.6). */
export function callColumns(r: CallRecord, log: LogConfig, links: CallLinks = NO_LINKS): CallColumns {
  const detail = {
    requestHeaders: redactHeaders(r.requestHeaders, log.redactHeaders),
    responseHeaders: redactHeaders(r.responseHeaders, log.redactHeaders),
    requestBody: storedBody(r.requestBody, log.bodies, log.redactPointers),
    responseBody: storedBody(r.responseBody, log.bodies, log.redactPointers),
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
    conditional: r.conditional,
    warned: r.unconditionalWarned,
    durationMs: r.durationMs,
    upstreamMs: r.upstreamMs,
    requestBytes: r.requestBytes,
    responseBytes: r.responseBytes,
    requestId: r.requestId,
    traceparent: r.traceparent,
    idempotencyKey: r.idempotencyKey,
    detail: JSON.stringify(detail),
    retryOf: links.retryOf,
    early: links.early,
    blind: links.blind,
    staleById: links.staleBy?.id ?? null,
    staleByConsumer: links.staleBy?.consumer ?? null,
    staleByTime: links.staleBy?.time ?? null,
    ...aiColumns(r.ai ?? null),
  };
}

/** The AI columns of a record: its `ai` member, or nulls. */
function aiColumns(ai: AiCallInfo | null) {
  return {
    aiAlias: ai?.alias ?? null,
    aiProvider: ai?.provider ?? null,
    aiModel: ai?.model ?? null,
    tokensIn: ai?.tokensIn ?? null,
    tokensOut: ai?.tokensOut ?? null,
    cost: ai?.cost ?? null,
    aiEstimated: ai ? ai.estimated : null,
    aiAttempts: ai?.attempts ?? null,
    aiStream: ai ? ai.stream : null,
    ttftMs: ai?.ttftMs ?? null,
    prompt: ai?.prompt ?? null,
    promptVersion: ai?.promptVersion ?? null,
    conversation: ai?.conversation ?? null,
  };
}

/** The AI columns as both schemas name them (after the older ones). */
export const AI_COLUMNS = [
  'ai_alias',
  'ai_provider',
  'ai_model',
  'tokens_in',
  'tokens_out',
  'cost',
  'ai_estimated',
  'ai_attempts',
  'ai_stream',
  'ttft_ms',
  'prompt',
  'prompt_version',
  'conversation',
] as const;

/** The columns `GET /calls` reads, in the order both schemas declare them. */
export const LIST_COLUMNS = `seq, id, time, route, target, consumer, client_ip, method, path, query, resource,
  status, code, conditional, warned, retry_of, early, duration_ms, upstream_ms, request_bytes, response_bytes,
  request_id, traceparent, ${AI_COLUMNS.join(', ')}`;

/** A row as either database returns it (SQLite has integers where PostgreSQL has booleans). */
export interface CallRow {
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
  conditional: number | boolean;
  warned: number | boolean;
  retry_of: string | null;
  early: number | boolean | null;
  duration_ms: number;
  upstream_ms: number | null;
  request_bytes: number;
  response_bytes: number;
  request_id: string;
  traceparent: string;
  ai_alias: string | null;
  ai_provider: string | null;
  ai_model: string | null;
  tokens_in: number | string | null;
  tokens_out: number | string | null;
  cost: number | null;
  ai_estimated: number | boolean | null;
  ai_attempts: number | null;
  ai_stream: number | boolean | null;
  ttft_ms: number | null;
  prompt: string | null;
  prompt_version: string | null;
  conversation: string | null;
}

/** A row with its headers and bodies, as `GET /calls/{id}` reads it. */
export type FullCallRow = CallRow & {
  detail: string;
  idempotency_key: string | null;
  stale_by_id: string | null;
  stale_by_consumer: string | null;
  stale_by_time: number | null;
};

/** The last successful write on a conflict's resource before it (issue 12), as `GET /calls/{id}` shows it. */
export interface StaleBy {
  readonly id: string;
  readonly consumer: string | null;
  readonly time: number;
}

/** Statuses that count as conflicts (SPEC 5.4). */
export const CONFLICT_STATUSES = [409, 412, 423, 428] as const;
/** Conflicts that mean the caller's version was stale, which get a stale-by link. */
export const STALE_STATUSES = [409, 412] as const;

/**
 * SQL (SQLite and PostgreSQL alike) for the last 2xx write on a resource before a call's `seq`:
 * two parameters, the resource and the seq. The `calls_resource` index makes it one range read.
 */
export const STALE_BY_SQL = `SELECT id, consumer, time FROM calls WHERE resource = ? AND seq < ?
  AND status >= 200 AND status < 300 AND method IN ('POST', 'PUT', 'PATCH', 'DELETE')
  ORDER BY seq DESC LIMIT 1`;

const truthy = (v: number | boolean | null) => v === true || v === 1;
const ms = (v: number) => Math.round(v * 1000) / 1000;

/** A row of a `GET /calls` answer. */
export function callJson(r: CallRow): StoredCall {
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
    conditional: truthy(r.conditional),
    unconditionalWarned: truthy(r.warned),
    retryOf: r.retry_of,
    early: truthy(r.early),
    durationMs: ms(r.duration_ms),
    upstreamMs: r.upstream_ms === null ? null : ms(r.upstream_ms),
    requestBytes: r.request_bytes,
    responseBytes: r.response_bytes,
    ai: aiJson(r),
  };
}

/** The `ai` member of a stored call: null when the call was not on an AI route. */
function aiJson(r: CallRow): AiCallInfo | null {
  if (r.ai_alias === null || r.ai_alias === undefined) return null;
  return {
    alias: r.ai_alias,
    provider: r.ai_provider,
    model: r.ai_model,
    tokensIn: Number(r.tokens_in ?? 0),
    tokensOut: Number(r.tokens_out ?? 0),
    cost: r.cost === null ? null : Number(r.cost),
    estimated: truthy(r.ai_estimated),
    attempts: Number(r.ai_attempts ?? 0),
    stream: truthy(r.ai_stream),
    ttftMs: r.ttft_ms === null ? null : ms(Number(r.ttft_ms)),
    prompt: r.prompt,
    promptVersion: r.prompt_version,
    conversation: r.conversation,
  };
}

type StoredBodyJson = { text: string; encoding: string; truncated: boolean } | null;

/** The `GET /calls/{id}` answer: the list fields, the idempotency key, headers and bodies. */
export function fullCallJson(row: FullCallRow, found?: StaleBy): StoredCall {
  const detail = JSON.parse(row.detail) as Record<string, unknown>;
  const body = (name: 'request' | 'response') => {
    const b = detail[`${name}Body`] as StoredBodyJson;
    return {
      [`${name}Body`]: b ? b.text : null,
      [`${name}BodyEncoding`]: b ? b.encoding : null,
      [`${name}BodyTruncated`]: b ? b.truncated : false,
    };
  };
  const staleBy: StaleBy | undefined =
    row.stale_by_id !== null
      ? { id: row.stale_by_id, consumer: row.stale_by_consumer, time: Number(row.stale_by_time) }
      : found;
  return {
    ...callJson(row),
    idempotencyKey: row.idempotency_key,
    ...((STALE_STATUSES as readonly number[]).includes(row.status) && row.resource !== null
      ? {
          staleBy: staleBy
            ? { id: staleBy.id, consumer: staleBy.consumer, time: new Date(staleBy.time).toISOString() }
            : null,
        }
      : {}),
    requestHeaders: detail['requestHeaders'],
    responseHeaders: detail['responseHeaders'],
    ...body('request'),
    ...body('response'),
  };
}

/** A batch's share of one route's minute; the store adds it to what is there (`mergeCounts`). */
export interface RollupDelta {
  readonly route: string;
  readonly minute: number;
  calls: number;
  readonly byStatus: Record<string, number>;
  readonly byCode: Record<string, number>;
  readonly latency: Histogram;
}

/**
 * The roll-ups of a batch, one per route and minute, sorted by both: writers that upsert them in
 * this order lock the same rows in the same order and cannot deadlock each other.
 */
export function rollupDeltas(batch: readonly CallRecord[], span = 60_000): RollupDelta[] {
  const deltas = new Map<string, RollupDelta>();
  for (const r of batch) {
    const minute = Math.floor(r.time / span) * span;
    const route = r.route ?? '';
    const key = `${route}\u0000${minute}`;
    let d = deltas.get(key);
    if (!d) {
      d = { route, minute, calls: 0, byStatus: {}, byCode: {}, latency: {} };
      deltas.set(key, d);
    }
    d.calls++;
    d.byStatus[r.status] = (d.byStatus[r.status] ?? 0) + 1;
    if (r.code) d.byCode[r.code] = (d.byCode[r.code] ?? 0) + 1;
    addTo(d.latency, r.durationMs);
  }
  return [...deltas.values()].sort((a, b) =>
    a.route < b.route ? -1 : a.route > b.route ? 1 : a.minute - b.minute,
  );
}

/** Two maps of counts added key by key (the JSON text of each, as stored). */
export function mergeCounts(a: string, b: string): string {
  const sum = JSON.parse(a) as Record<string, number>;
  for (const [k, v] of Object.entries(JSON.parse(b) as Record<string, number>)) sum[k] = (sum[k] ?? 0) + v;
  return JSON.stringify(sum);
}
