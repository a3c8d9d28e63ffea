/**
 * Guards for provider JSON, which the gateway never trusts: a field of the wrong type is treated as
 * absent instead of throwing a TypeError halfway through a translation.
 */
import type { FinishReason, ProviderFailure, TokenUsage, Usage } from '../types.js';

/** A plain JSON object. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** True for a non-null, non-array object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object at `value`, or an empty one. */
export function objectOf(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}

/** The string at `value`, or undefined. */
export function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A finite, non-negative count at `value`, or undefined. */
export function countOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** The array at `value`, or an empty one. */
export function arrayOf(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** JSON text parsed, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Token counts in OpenAI's names, for the chunk or completion that reports them. */
export function usageOf(usage: TokenUsage): Usage {
  return {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
  };
}

/** OpenAI's finish reasons, which the unified format uses. */
export const FINISH_REASONS: ReadonlySet<string> = new Set<FinishReason>([
  'stop',
  'length',
  'tool_calls',
  'content_filter',
]);

/** A provider failure; rate limits and unavailable models let the next model of the alias be tried. */
export function providerFailure(
  code: ProviderFailure['code'],
  providerStatus: number | null,
  message: string,
  retryAfter: number | undefined,
): ProviderFailure {
  const fallback = code === 'model-rate-limited' || code === 'model-unavailable';
  return { code, providerStatus, message, retryAfter, fallback };
}

/** The error body's text for a message when the provider gave no readable one, cut so logs stay small. */
export function bodyMessage(status: number, body: string): string {
  const text = body.trim();
  return text === '' ? `the provider answered ${status} without a body` : text.slice(0, 1000);
}
