import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** RFC 9110 7.6.1: connection-specific fields, never forwarded (plus the legacy ones proxies still see). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers the gateway sets itself and never takes from the client. */
const GATEWAY_OWNED = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'traceparent',
  'truce-actor',
]);

/** Hop-by-hop names: the fixed ones and every name the Connection header lists. */
function connectionNames(headers: IncomingHttpHeaders): Set<string> | undefined {
  const connection = headers['connection'];
  if (connection === undefined) return undefined;
  return new Set(
    connection
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** What the gateway adds to a request it forwards. */
export interface ForwardContext {
  readonly clientIp: string;
  readonly host: string | undefined;
  readonly requestId: string;
  readonly traceparent: string;
  /** The consumer's name on `auth: key` routes; null removes Truce-Actor. */
  readonly actor: string | null;
  /** Request headers that carried the credential, not passed upstream. */
  readonly credentialHeaders: readonly string[];
}

/** The headers sent upstream, as a flat name/value array for undici. */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  raw: readonly string[],
  fwd: ForwardContext,
): string[] {
  const listed = connectionNames(headers);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || GATEWAY_OWNED.has(lower) || listed?.has(lower)) continue;
    if (lower === 'content-length') continue; // undici frames the body itself
    if (fwd.credentialHeaders.includes(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  const prior = headers['x-forwarded-for'];
  out.push('x-forwarded-for', prior ? `${prior}, ${fwd.clientIp}` : fwd.clientIp);
  out.push('x-forwarded-proto', 'http');
  if (fwd.host !== undefined) out.push('x-forwarded-host', fwd.host);
  out.push('x-request-id', fwd.requestId, 'traceparent', fwd.traceparent);
  if (fwd.actor !== null) out.push('truce-actor', fwd.actor);
  return out;
}

/** The upstream's response headers minus the hop-by-hop ones, for writeHead. */
export function downstreamResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const connection = headers['connection'];
  const listed =
    typeof connection === 'string'
      ? new Set(connection.split(',').map((t) => t.trim().toLowerCase()))
      : undefined;
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,200}$/;

/** SPEC 5.6: a client X-Request-Id of 1-200 characters from [A-Za-z0-9._:-] is kept, any other replaced. */
export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : newRequestId();
}

/** A new request id: 128 random bits, hex. */
export function newRequestId(): string {
  return randomHex(16);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * W3C Trace Context: a valid client `traceparent` keeps its trace-id and flags and gets the
 * gateway's own parent-id (this hop is a span); otherwise a new trace starts. Version ff and
 * all-zero ids are invalid (Trace Context 3.2.2).
 */
export function traceparentOf(header: string | string[] | undefined): string {
  const match = typeof header === 'string' ? TRACEPARENT.exec(header.trim().toLowerCase()) : null;
  const valid = match && match[1] !== 'ff' && !/^0+$/.test(match[2]!) && !/^0+$/.test(match[3]!);
  const traceId = valid ? match[2]! : randomHex(16);
  const flags = valid ? match[4]! : '01';
  return `00-${traceId}-${randomHex(8)}-${flags}`;
}

// Random ids come from one pooled buffer: a randomBytes call per request would dominate the cost.
let pool = Buffer.alloc(0);
let offset = 0;
function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/**
 * SPEC 5.6: under `stripPrefix`, `Location`, `Content-Location` and `Link` references that are
 * absolute paths get the prefix back, so that a client can follow them through the gateway.
 */
export function restorePrefix(headers: Record<string, string | string[]>, prefix: string): void {
  if (prefix === '') return;
  for (const name of ['location', 'content-location']) {
    const value = headers[name];
    if (typeof value === 'string' && value.startsWith('/') && !value.startsWith('//'))
      headers[name] = prefix + value;
  }
  const link = headers['link'];
  if (link !== undefined) {
    const fix = (v: string) => v.replace(/<(\/(?!\/)[^>]*)>/g, (_m, path: string) => `<${prefix}${path}>`);
    headers['link'] = Array.isArray(link) ? link.map(fix) : fix(link);
  }
}
