import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ChatRequest } from './types.js';

const content = {
  anyOf: [
    { type: 'string' },
    { type: 'null' },
    {
      type: 'array',
      items: {
        type: 'object',
        required: ['type'],
        properties: {
          type: { enum: ['text', 'image_url'] },
          text: { type: 'string' },
          image_url: {
            type: 'object',
            required: ['url'],
            properties: { url: { type: 'string', minLength: 1 }, detail: { type: 'string' } },
          },
        },
      },
    },
  ],
};

/**
 * The Chat Completions request the gateway accepts (docs/ai.md). Checked before any provider is
 * called, so that a malformed request costs nothing and every fault is named with its pointer.
 */
const schema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1 },
    messages: {
      type: 'array',
      minItems: 1,
      maxItems: 10_000,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
          content,
          name: { type: 'string' },
          tool_call_id: { type: 'string' },
          tool_calls: {
            type: 'array',
            items: {
              type: 'object',
              required: ['id', 'type', 'function'],
              properties: {
                id: { type: 'string' },
                type: { const: 'function' },
                function: {
                  type: 'object',
                  required: ['name', 'arguments'],
                  properties: { name: { type: 'string' }, arguments: { type: 'string' } },
                },
                extra_content: {
                  type: 'object',
                  properties: {
                    google: { type: 'object', properties: { thought_signature: { type: 'string' } } },
                  },
                },
              },
            },
          },
        },
        if: { properties: { role: { const: 'tool' } } },
        then: { required: ['tool_call_id'] },
      },
    },
    stream: { type: 'boolean' },
    stream_options: { type: 'object', properties: { include_usage: { type: 'boolean' } } },
    max_tokens: { type: 'integer', minimum: 1 },
    max_completion_tokens: { type: 'integer', minimum: 1 },
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    stop: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 16 }] },
    n: { const: 1 },
    seed: { type: 'integer' },
    presence_penalty: { type: 'number' },
    frequency_penalty: { type: 'number' },
    user: { type: 'string' },
    parallel_tool_calls: { type: 'boolean' },
    tools: {
      type: 'array',
      maxItems: 512,
      items: {
        type: 'object',
        required: ['type', 'function'],
        properties: {
          type: { const: 'function' },
          function: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
              description: { type: 'string' },
              parameters: { type: 'object' },
              strict: { type: 'boolean' },
            },
          },
        },
      },
    },
    tool_choice: {
      anyOf: [
        { enum: ['none', 'auto', 'required'] },
        {
          type: 'object',
          required: ['type', 'function'],
          properties: {
            type: { const: 'function' },
            function: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
          },
        },
      ],
    },
    response_format: {
      type: 'object',
      required: ['type'],
      properties: {
        type: { enum: ['text', 'json_object', 'json_schema'] },
        json_schema: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, schema: { type: 'object' }, strict: { type: 'boolean' } },
        },
      },
    },
  },
} as const;

const validate = new Ajv2020({ allErrors: true, strict: false, logger: false }).compile(schema);

/** A fault of a chat request, with the JSON Pointer of the value at fault. */
export interface RequestFault {
  readonly pointer: string;
  readonly message: string;
}

/** Checks a parsed body; returns the request, or every fault found. */
export function checkChatRequest(body: unknown): { request: ChatRequest } | { faults: RequestFault[] } {
  if (validate(body)) return { request: body as unknown as ChatRequest };
  const faults = (validate.errors ?? [])
    // `anyOf` and `if` add a summary error on top of the ones that say what is wrong.
    .filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'if')
    .map((e) => ({
      pointer:
        e.keyword === 'required'
          ? `${e.instancePath}/${String(e.params['missingProperty'])}`
          : e.instancePath,
      message: e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid'),
    }));
  const seen = new Set<string>();
  return {
    faults: faults.filter((f) => {
      const key = `${f.pointer}\u0000${f.message}`;
      return seen.has(key) ? false : (seen.add(key), true);
    }),
  };
}
