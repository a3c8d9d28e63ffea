/**
 * What Anthropic's answers and streams share: error mapping, stop reasons and usage.
 */
import type { FinishReason, ProviderFailure, TokenUsage } from '../types.js';
import { parseRetryAfter, untilDate } from './retry-after.js';
import { bodyMessage, countOf, isObject, objectOf, parseJson, providerFailure, stringOf } from './shape.js';

/** An Anthropic error answer (`{type: 'error', error: {type, message}}`) mapped to the gateway's codes. */
export function anthropicFailure(
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string,
): ProviderFailure {
  const parsed = parseJson(body);
  const error = isObject(parsed) ? objectOf(parsed['error']) : {};
  const message = stringOf(error['message']) ?? bodyMessage(status, body);
  if (status === 429) return providerFailure('model-rate-limited', status, message, rateLimitRetry(headers));
  const retryAfter = parseRetryAfter(headers['retry-after']);
  if (status === 401 || status === 403 || status === 404) {
    return providerFailure('model-unavailable', status, message, retryAfter);
  }
  if (status >= 400 && status < 500) {
    const tooLong = status === 413 || /prompt is too long/i.test(message);
    return providerFailure(
      tooLong ? 'context-too-long' : 'model-request-invalid',
      status,
      message,
      undefined,
    );
  }
  // 529 (overloaded) and every other 5xx.
  return providerFailure('model-unavailable', status, message, retryAfter);
}

/** Anthropic's stop reasons in OpenAI's words. */
export function anthropicFinish(value: unknown): FinishReason | null {
  switch (value) {
    case null:
    case undefined:
      return null;
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn and reasons added later all mean the answer ended.
      return typeof value === 'string' ? 'stop' : null;
  }
}

/** Anthropic's usage object; cached input is input the caller pays for, at a different price. */
export function anthropicUsage(value: unknown): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  const input = countOf(value['input_tokens']);
  const output = countOf(value['output_tokens']);
  if (input === undefined || output === undefined) return undefined;
  const cached =
    (countOf(value['cache_creation_input_tokens']) ?? 0) + (countOf(value['cache_read_input_tokens']) ?? 0);
  return { input: input + cached, output, estimated: false };
}

function rateLimitRetry(headers: Readonly<Record<string, string>>): number | undefined {
  const direct = parseRetryAfter(headers['retry-after']);
  if (direct !== undefined) return direct;
  // Wait for the limits that ran out; when none says so, for the latest reset.
  const limits = ['requests', 'tokens', 'input-tokens', 'output-tokens'];
  const out = limits.filter((limit) => headers[`anthropic-ratelimit-${limit}-remaining`]?.trim() === '0');
  const waits = (out.length > 0 ? out : limits)
    .map((limit) => untilDate(headers[`anthropic-ratelimit-${limit}-reset`]))
    .filter((wait): wait is number => wait !== undefined);
  return waits.length > 0 ? Math.max(...waits) : undefined;
}
