import type { Upstream } from '../proxy/upstream.js';
import { gatewayProblem } from '../problems/answer.js';

/** A Truce server's answer, read whole (state documents are small). */
export interface StateAnswer {
  readonly status: number;
  readonly etag: string | undefined;
  readonly body: unknown;
}

/** State documents larger than this are refused as a broken upstream. */
const STATE_LIMIT = 8 * 1024 * 1024;

/**
 * The Truce server an AI route keeps its prompts and conversations in (`ai.state.upstream`). Every
 * write goes through the server's own compare-and-set (If-Match, JSON Patch `test`), so the
 * gateway adds no locking of its own and several gateway processes stay correct together.
 */
export class TruceState {
  constructor(
    private readonly upstream: Upstream,
    private readonly requestTimeoutMs: number,
  ) {}

  async request(
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: unknown; actor?: string | null } = {},
  ): Promise<StateAnswer> {
    const target = this.upstream.pick();
    if (!target) {
      throw gatewayProblem(
        'no-healthy-upstream',
        `Upstream ${this.upstream.config.name} has no healthy target.`,
        {
          upstream: this.upstream.config.name,
        },
      );
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.actor) headers['truce-actor'] = options.actor;
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    try {
      const response = await target.pool.request({
        method: method as 'GET',
        path: target.basePath + path,
        headers,
        body: payload ?? null,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > STATE_LIMIT) {
          response.body.destroy();
          throw new Error(`the state answer is larger than ${STATE_LIMIT} bytes`);
        }
        parts.push(chunk);
      }
      const text = Buffer.concat(parts).toString('utf8');
      const etag = response.headers['etag'];
      return {
        status: response.statusCode,
        etag: typeof etag === 'string' ? etag : undefined,
        body: text === '' ? null : (JSON.parse(text) as unknown),
      };
    } catch (error) {
      throw gatewayProblem(
        'bad-gateway',
        `The state store (upstream ${this.upstream.config.name}) failed: ${(error as Error).message}`,
      );
    }
  }
}
