/** One call through the proxy, as the call log keeps it (SPEC 5.3). */
export interface CallRecord {
  readonly id: string;
  readonly requestId: string;
  readonly traceparent: string;
  /** Start of the call, epoch ms (ISO 8601 in the admin API). */
  readonly time: number;
  readonly route: string | null;
  readonly target: string | null;
  readonly consumer: string | null;
  readonly clientIp: string;
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  readonly query: string | null;
  /** The resource key from the route's template, or null. */
  readonly resource: string | null;
  readonly status: number;
  /** The `code` member of a problem+json answer (the gateway's or the upstream's), else null. */
  readonly code: string | null;
  /** The request carried If-Match, If-Unmodified-Since, If-None-Match or Truce-Base. */
  readonly conditional: boolean;
  /** Guard `warn` let this unconditional write through. */
  readonly unconditionalWarned: boolean;
  readonly idempotencyKey: string | null;
  readonly retryAfter: number | null;
  readonly durationMs: number;
  readonly upstreamMs: number | null;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly requestHeaders: Record<string, string>;
  readonly responseHeaders: Record<string, string>;
  /** The bodies as captured; the call log redacts and cuts them before anything is stored. */
  readonly requestBody: RawBody | null;
  readonly responseBody: RawBody | null;
  /** SHA-256 of the whole request body (base64url, cut to 22 characters); null when not forwarded. */
  readonly bodyHash?: string | null;
  /** The route has a deprecation or sunset date: the call counts in the `lifecycle` report. */
  readonly lifecycle?: boolean;
  /** On AI routes: which model answered and what it cost (docs/ai.md); absent or null elsewhere. */
  readonly ai?: AiCallInfo | null;
}

/** What an AI route's call used. */
export interface AiCallInfo {
  /** The alias the client named, or the prompt's alias. */
  readonly alias: string;
  /** The provider and model that answered (the last one tried when none did); null before any was tried. */
  readonly provider: string | null;
  readonly model: string | null;
  readonly tokensIn: number;
  readonly tokensOut: number;
  /** In the price table's currency; null when the model has no price. */
  readonly cost: number | null;
  /** The provider reported no usage; the counts are estimates. */
  readonly estimated: boolean;
  /** Provider models tried, 1 when the first answered. */
  readonly attempts: number;
  readonly stream: boolean;
  /** Milliseconds from the start of the call to the first streamed byte to the client, when streamed. */
  readonly ttftMs: number | null;
  /** `POST /prompts/{name}`: the prompt's name and the ETag of the version used. */
  readonly prompt: string | null;
  readonly promptVersion: string | null;
  /** A conversation turn: the conversation's id. */
  readonly conversation: string | null;
}

/** The first bytes of a body as it streamed past, with its media type. */
export interface RawBody {
  readonly data: Buffer;
  /** The body was longer than `data`. */
  readonly truncated: boolean;
  readonly contentType: string | undefined;
}

/** A body as stored: text, or base64 when it is not UTF-8 text, cut at `log.bodies`. */
export interface CapturedBody {
  readonly text: string;
  readonly encoding: 'utf8' | 'base64';
  readonly truncated: boolean;
}

/** Where finished calls go. `push` must never block or throw: the proxy does not wait on the log. */
export interface CallSink {
  push(record: CallRecord): void;
}
