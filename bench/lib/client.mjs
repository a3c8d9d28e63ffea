// A client of its own for each writer of a writers scenario (M1): one keep-alive connection, one
// request at a time, like an autocannon connection, but driven by a loop that keeps state from one
// answer to the next (the ETag it last saw), which autocannon's request sequences cannot do.
import { Buffer } from 'node:buffer';
import { Agent, request as httpRequest } from 'node:http';

/** The same limit as autocannon's in lib/load.mjs: a request unanswered this long is a timeout. */
const TIMEOUT_MS = 10_000;

/**
 * @typedef {object} Answer
 * @property {number} status 0 when the request failed (connection error or timeout)
 * @property {Record<string, string | string[] | undefined>} headers
 * @property {string} body
 * @property {string} [error] why the request failed
 */

/**
 * Opens a client on `baseUrl` with exactly one connection, kept alive between requests.
 * @returns {{ send: (method: string, path: string, headers: Record<string, string>, body?: string) => Promise<Answer>, close: () => void }}
 */
export function openClient(baseUrl) {
  const { hostname, port } = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method, path, headers, body) =>
    new Promise((resolve) => {
      const req = httpRequest(
        { agent, hostname, port, method, path, headers, timeout: TIMEOUT_MS },
        (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            }),
          );
          res.on('error', (error) => resolve({ status: 0, headers: {}, body: '', error: error.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', (error) => resolve({ status: 0, headers: {}, body: '', error: error.message }));
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}
