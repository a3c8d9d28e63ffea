import type { ProviderAdapter, ProviderKind } from '../types.js';
import { anthropicAdapter } from './anthropic.js';
import { geminiAdapter } from './gemini.js';
import { openaiAdapter } from './openai.js';

const adapters: { readonly [K in ProviderKind]: ProviderAdapter } = {
  openai: openaiAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
};

/** The adapter that speaks a provider kind's wire format. */
export function adapterOf(kind: ProviderKind): ProviderAdapter {
  return adapters[kind];
}
