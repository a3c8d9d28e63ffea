// A minimal `fetch` over `node:http` with one keep-alive agent, for measuring what the transport
// costs the SDK (sdk-increments.mjs FETCH=node-http), not for use: it follows no redirects, does not
// decompress, speaks plain http only, and builds the `Response` from a body read whole. The SDK
// itself uses the runtime's fetch (SPEC 4: no Node-only imports); a client can pass its own `fetch`.
import { Buffer } from 'node:buffer';
import http from 'node:http';

const { Headers, Response } = globalThis;

const agent = new http.Agent({ keepAlive: true });

/** @type {(input: string, init?: RequestInit) => Promise<Response>} */
export function nodeHttpFetch(input, init = {}) {
  return new Promise((resolve, reject) => {
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return reject(signal.reason);
    const headers = {};
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    const body = init.body ?? undefined;
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    const request = http.request(input, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        const answer = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          answer.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        const empty = res.statusCode === 204 || res.statusCode === 304 || init.method === 'HEAD';
        resolve(
          new Response(empty ? null : Buffer.concat(chunks), {
            status: res.statusCode,
            statusText: res.statusMessage,
            headers: answer,
          }),
        );
      });
    });
    const onAbort = () => {
      request.destroy(signal.reason);
      reject(signal.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => reject(new TypeError('fetch failed', { cause: error })));
    request.end(body);
  });
}
