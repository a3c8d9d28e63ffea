/**
 * `nodeFetch()`: a `fetch` for `createClient({ fetch })` on Node.js, over `node:http` and
 * `node:https` agents that keep connections alive.
 *
 * `@truce/client` uses the runtime's `fetch` so that it runs unchanged in browsers and other fetch
 * runtimes (SPEC 4). On Node.js that is undici's `fetch`, written in JavaScript on web streams,
 * which costs about twice the CPU per request of Node's own HTTP client (bench/README.md, "Keyed
 * increments"). A Node.js process that talks to Truce a lot (a worker, an API server in front of
 * it) can hand the SDK this one instead.
 *
 * It is the part of `fetch` the SDK uses, with these differences, all documented in
 * docs/client.md:
 * - `http:` and `https:` only; bodies are strings, bytes or `URLSearchParams`;
 * - redirects are not followed: a 3xx is returned as it came (Truce servers do not redirect);
 * - no content coding is asked for (`accept-encoding` is not added), so none is undone;
 * - the answer is read whole before the promise resolves, except `text/event-stream` answers
 *   (the change feed), whose body streams as it arrives.
 */
import { Buffer } from 'node:buffer';
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

/** Options of {@link nodeFetch}. */
export interface NodeFetchOptions {
  /** Connections per origin at most; default 256. Requests past that wait for one. */
  readonly maxSockets?: number;
  /** Idle connections per origin kept for the next requests; default 64. */
  readonly maxFreeSockets?: number;
  /**
   * Milliseconds a request may wait with nothing received or sent (for an answer to start, or for
   * more of it, a streamed one included) before it fails with a `TypeError`; default 300,000, as
   * Node's fetch waits. An `AbortSignal` bounds a whole request.
   */
  readonly idleTimeoutMs?: number;
  /** TLS settings for `https:` origins: a private CA (`ca`), a client certificate (`cert`, `key`). */
  readonly tls?: Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'servername'>;
}

/** The fetch {@link nodeFetch} returns, with a way to let its idle connections go. */
export interface NodeFetch {
  (input: string | URL, init?: RequestInit): Promise<Response>;
  /** Closes every connection, those of requests in flight included: for when the client is done. */
  close(): void;
}

/** Statuses whose answers have no body (RFC 9110, 6.4.1). */
const NO_BODY = new Set([204, 205, 304]);
/** The methods fetch upper-cases (the Fetch standard's "normalize"); others are sent as written. */
const NORMALISED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/** A `fetch` over keep-alive `node:http` and `node:https` agents of its own. */
export function nodeFetch(options: NodeFetchOptions = {}): NodeFetch {
  const common = {
    keepAlive: true,
    maxSockets: options.maxSockets ?? 256,
    maxFreeSockets: options.maxFreeSockets ?? 64,
    // The most recently used connection first: the others may then idle out instead of all
    // staying half-used, and the one used is the least likely to have been closed by the server.
    scheduling: 'lifo' as const,
  };
  const agents = { http: new http.Agent(common), https: new https.Agent({ ...options.tls, ...common }) };
  const idleMs = options.idleTimeoutMs ?? 300_000;
  const fetch = ((input: string | URL, init: RequestInit = {}) =>
    send(agents, idleMs, input, init)) as NodeFetch;
  fetch.close = () => {
    agents.http.destroy();
    agents.https.destroy();
  };
  return fetch;
}

function send(
  agents: { http: http.Agent; https: https.Agent },
  idleMs: number,
  input: string | URL,
  init: RequestInit,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(String(input));
    } catch (error) {
      reject(new TypeError(`Invalid URL: ${String(input)}`, { cause: error }));
      return;
    }
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') {
      reject(new TypeError(`nodeFetch speaks http: and https:, not ${url.protocol}`));
      return;
    }
    if (url.username !== '' || url.password !== '') {
      reject(new TypeError('A URL with credentials cannot be fetched; send them in a header.'));
      return;
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const written = init.method ?? 'GET';
    const method = NORMALISED.has(written.toUpperCase()) ? written.toUpperCase() : written;
    const headers: Record<string, string> = {};
    new Headers(init.headers ?? undefined).forEach((value, name) => {
      headers[name] = value;
    });
    let body: string | Buffer | undefined;
    const given = init.body;
    if (given !== undefined && given !== null) {
      if (method === 'GET' || method === 'HEAD') {
        reject(new TypeError(`A ${method} request cannot have a body.`));
        return;
      }
      if (typeof given === 'string') {
        body = given;
        headers['content-type'] ??= 'text/plain;charset=UTF-8';
      } else if (given instanceof URLSearchParams) {
        body = given.toString();
        headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
      } else if (given instanceof ArrayBuffer) {
        body = Buffer.from(given);
      } else if (ArrayBuffer.isView(given)) {
        body = Buffer.from(given.buffer, given.byteOffset, given.byteLength);
      } else {
        reject(new TypeError('nodeFetch sends string, byte and URLSearchParams bodies only.'));
        return;
      }
      headers['content-length'] = String(Buffer.byteLength(body));
    }

    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    };
    const succeed = (response: Response, keepListening: boolean): void => {
      settled = true;
      if (!keepListening) signal?.removeEventListener('abort', onAbort);
      resolve(response);
    };
    const request = (secure ? https : http).request(
      url,
      { method, headers, agent: secure ? agents.https : agents.http },
      (res) => {
        const status = res.statusCode ?? 0;
        const answer = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
          answer.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        if (status < 200 || status > 599) {
          res.destroy();
          fail(new TypeError(`fetch failed: the server answered with status ${status}`));
          return;
        }
        const meta = { status, statusText: res.statusMessage ?? '', headers: answer };
        if (NO_BODY.has(status) || method === 'HEAD') {
          res.resume();
          succeed(new Response(null, meta), false);
          return;
        }
        if (/^\s*text\/event-stream/i.test(res.headers['content-type'] ?? '')) {
          // Streamed: an abort from now on ends the body with the abort's reason.
          res.on('close', () => signal?.removeEventListener('abort', onAbort));
          const stream = Readable.toWeb(res) as NodeReadableStream<Uint8Array>;
          succeed(new Response(stream as unknown as ReadableStream<Uint8Array>, meta), true);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => fail(new TypeError('fetch failed', { cause: error })));
        res.on('end', () => {
          if (!res.complete) {
            fail(new TypeError('fetch failed: the connection closed before the whole answer arrived'));
            return;
          }
          succeed(bufferedResponse(Buffer.concat(chunks), meta), false);
        });
      },
    );
    function onAbort(): void {
      const reason: unknown = signal!.reason;
      request.destroy(reason instanceof Error ? reason : new Error(String(reason)));
      fail(reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => fail(new TypeError('fetch failed', { cause: error })));
    request.setTimeout(idleMs, () => request.destroy(new Error(`nothing received or sent for ${idleMs} ms`)));
    request.end(body);
  });
}

/**
 * A `Response` whose whole body is already in memory. A `Response` made with a body wraps it in a
 * web `ReadableStream` at once, and `text()` reads it back through that stream: together the most
 * costly part of an answer after the socket (bench/README.md). This one starts without a body, and
 * `text()`, `json()` and `arrayBuffer()` answer from the bytes directly; anything else that touches
 * the body (`body`, `blob()`, `formData()`, `clone()`) gets a real one, made then. A body is read
 * once, as with fetch: a second read rejects with a `TypeError`.
 */
function bufferedResponse(data: Buffer, meta: ResponseInit): Response {
  const response = new Response(null, meta);
  let consumed = false;
  let real: Response | undefined;
  const materialise = (): Response => {
    if (real === undefined) {
      real = new Response(data as unknown as ConstructorParameters<typeof Response>[0], meta);
      // Already read here: the real one must say so, and refuse a second read.
      if (consumed) void real.arrayBuffer();
    }
    return real;
  };
  const read = <T>(fast: () => T, slow: (r: Response) => Promise<T>): Promise<T> => {
    if (real !== undefined) return slow(real);
    if (consumed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
    consumed = true;
    try {
      return Promise.resolve(fast());
    } catch (error) {
      return Promise.reject(error);
    }
  };
  const text = () => DECODER.decode(data);
  Object.defineProperties(response, {
    body: { get: () => materialise().body, configurable: true },
    bodyUsed: { get: () => (real !== undefined ? real.bodyUsed : consumed), configurable: true },
    text: { value: () => read(text, (r) => r.text()), configurable: true },
    json: {
      value: () =>
        read(
          () => JSON.parse(text()) as unknown,
          (r) => r.json(),
        ),
      configurable: true,
    },
    arrayBuffer: {
      value: () =>
        read(
          () => data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer,
          (r) => r.arrayBuffer(),
        ),
      configurable: true,
    },
    blob: { value: () => materialise().blob(), configurable: true },
    formData: { value: () => materialise().formData(), configurable: true },
    clone: { value: () => materialise().clone(), configurable: true },
  });
  return response;
}

const DECODER = new TextDecoder();
