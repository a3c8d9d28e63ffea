import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { errors, type Dispatcher } from 'undici';
import { BodyCapture } from '../calls/capture.js';
import { answerHead } from './cors.js';
import { downstreamResponseHeaders, restorePrefix } from './headers.js';

/** What the relay needs to know about the call it answers. */
export interface RelayContext {
  readonly res: ServerResponse;
  /** The route's prefix when `stripPrefix` puts it back into references, else ''. */
  readonly restorePrefix: string;
  /** Headers every answer of this call carries (request id, RateLimit...), over the upstream's. */
  readonly answerHeaders: Record<string, string | string[]>;
  /** Whether the gateway does CORS itself (then the upstream's own CORS headers are dropped). */
  readonly gatewayCors: boolean;
  /** Bytes of each response body to keep for the call log (and more for a problem, for its code). */
  readonly captureLimit: number;
  readonly problemScan: number;
}

/** The upstream's answer as it was relayed, for the call record. */
export interface Relayed {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly isProblem: boolean;
  readonly contentType: string;
  readonly retryAfter: string | string[] | undefined;
  readonly capture: BodyCapture;
  /** performance.now() when the status line arrived. */
  readonly answeredAt: number;
}

/**
 * Sends one request to one target through undici's dispatcher and writes the answer to the client
 * as it arrives: status and headers once they come, each body chunk as it comes (pausing the
 * upstream while the client is slow), then the end. A handler instead of `pool.request()` plus a
 * `for await` over its body: that path built a Readable, an async iterator and several promises
 * for every call, about a fifth of the bare proxy's CPU time.
 *
 * Resolves once the answer is written (or cut off: an upstream breaking off mid-answer, or the
 * client leaving, destroys the client connection, as nothing more can be said on it). Rejects
 * only when no status line came, so the caller may retry on another target.
 */
export function relay(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  ctx: RelayContext,
  onAnswer: (status: number) => void,
): Promise<Relayed> {
  return new Promise((resolve, reject) => {
    const { res } = ctx;
    let controller: Dispatcher.DispatchController | undefined;
    let answer: Omit<Relayed, 'capture'> | undefined;
    let capture: BodyCapture | undefined;
    let settled = false;
    const clientLeft = () => {
      if (!res.writableFinished) controller?.abort(new errors.RequestAbortedError('client left'));
    };
    const onDrain = () => controller?.resume();
    const done = () => {
      settled = true;
      res.off('close', clientLeft);
      res.off('drain', onDrain);
      resolve({ ...answer!, capture: capture! });
    };
    res.on('close', clientLeft);
    dispatcher.dispatch(options, {
      onRequestStart(c) {
        controller = c;
        if (res.destroyed) c.abort(new errors.RequestAbortedError('client left'));
      },
      onResponseStart(c, status, upstreamHeaders) {
        const answeredAt = performance.now();
        onAnswer(status);
        const headers = downstreamResponseHeaders(upstreamHeaders as IncomingHttpHeaders);
        if (ctx.restorePrefix !== '') restorePrefix(headers, ctx.restorePrefix);
        const contentType = String(headers['content-type'] ?? '');
        const isProblem = contentType.toLowerCase().startsWith('application/problem+json');
        capture = new BodyCapture(Math.max(ctx.captureLimit, isProblem ? ctx.problemScan : 0));
        answer = {
          status,
          headers,
          isProblem,
          contentType,
          retryAfter: upstreamHeaders['retry-after'],
          answeredAt,
        };
        res.writeHead(status, answerHead(ctx.gatewayCors, headers, ctx.answerHeaders));
        res.on('drain', onDrain);
      },
      onResponseData(c, chunk) {
        capture!.add(chunk);
        if (!res.write(chunk)) c.pause();
      },
      onResponseEnd() {
        if (settled) return;
        res.end();
        done();
      },
      onResponseError(_c, error) {
        if (settled) return;
        if (answer === undefined) {
          settled = true;
          res.off('close', clientLeft);
          reject(error);
          return;
        }
        res.destroy();
        done();
      },
    });
  });
}
