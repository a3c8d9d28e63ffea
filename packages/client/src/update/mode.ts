/**
 * Whether the server merges `Truce-Base` edits (SPEC 3.7). A server that does not know the header
 * would ignore it and apply the write unconditionally, losing the concurrent edits it was meant to
 * merge, so the client sends it only to servers that say they understand it: a Truce server lists
 * the header among the parameters of its OpenAPI document (`GET /_openapi.json`). Anything else
 * (no document, another document, a 404 from a gateway that does not route it) means `If-Match`
 * and merging on the client, which is safe with any server that sends strong ETags.
 */
import { isJsonObject } from '@truce/protocol';
import type { OperationScope } from '../http/timing.js';
import { request, type ClientContext } from '../client/context.js';

/** How `update` sends its edits to this client's server; probed once, then remembered. */
export function updateMode(ctx: ClientContext, scope: OperationScope): Promise<'truce-base' | 'if-match'> {
  if (ctx.mode !== 'auto') return Promise.resolve(ctx.mode);
  if (ctx.detected === undefined) {
    const probe = probeServer(ctx, scope);
    ctx.detected = probe;
    // A probe that failed (network, abort) is not an answer: the next update asks again.
    probe.catch(() => {
      if (ctx.detected === probe) ctx.detected = undefined;
    });
  }
  return ctx.detected;
}

async function probeServer(ctx: ClientContext, scope: OperationScope): Promise<'truce-base' | 'if-match'> {
  const exchange = await request(ctx, scope, { method: 'GET', path: '/_openapi.json' });
  if (exchange.status !== 200 || !isJsonObject(exchange.body)) return 'if-match';
  const components = exchange.body['components'];
  const parameters = isJsonObject(components) ? components['parameters'] : undefined;
  if (!isJsonObject(parameters)) return 'if-match';
  const understood = Object.values(parameters).some(
    (p) => isJsonObject(p) && p['in'] === 'header' && String(p['name']).toLowerCase() === 'truce-base',
  );
  return understood ? 'truce-base' : 'if-match';
}
