/**
 * Chat Completions → Gemini `generateContent` request bodies (the REST shapes of
 * https://ai.google.dev/api/generate-content), and the small guards the answer side shares.
 */
import { Buffer } from 'node:buffer';
import type { ChatMessage, ChatRequest, ContentPart, ModelTarget, ToolCall, ToolChoice } from '../types.js';

/** A JSON object as the provider sent it: nothing about its members is trusted. */
export type Json = Record<string, unknown>;

/** True for a JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Part = Json;
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

/** The Gemini request body for a unified request. */
export function geminiBody(request: ChatRequest, target: ModelTarget): Json {
  const { system, contents } = toContents(request.messages, signsCalls(target.model));
  const body: Json = { contents };
  if (system.length > 0) body['systemInstruction'] = { parts: system };
  const generationConfig = toGenerationConfig(request, target);
  if (Object.keys(generationConfig).length > 0) body['generationConfig'] = generationConfig;
  if (request.tools !== undefined && request.tools.length > 0) {
    const functionDeclarations = request.tools.map(({ function: fn }) => {
      const declaration: Json = { name: fn.name };
      if (fn.description !== undefined) declaration['description'] = fn.description;
      // JSON Schema as clients write it for OpenAI (`additionalProperties`, `$ref`, ...), which the
      // older `parameters` field (an OpenAPI subset) refuses.
      if (fn.parameters !== undefined) declaration['parametersJsonSchema'] = fn.parameters;
      return declaration;
    });
    body['tools'] = [{ functionDeclarations }];
  }
  if (request.tool_choice !== undefined) {
    body['toolConfig'] = { functionCallingConfig: toFunctionCallingConfig(request.tool_choice) };
  }
  return body;
}

/**
 * Messages as Gemini contents. Gemini has no system role (it takes `systemInstruction`), calls the
 * assistant `model`, and answers function calls from the `user` side, by name rather than by id.
 */
function toContents(
  messages: readonly ChatMessage[],
  signed: boolean,
): { system: Part[]; contents: Content[] } {
  const system: Part[] = [];
  const contents: Content[] = [];
  // Tool messages name the call they answer by id; Gemini wants the function's name.
  const callNames = new Map<string, string>();
  const push = (role: Content['role'], parts: Part[]): void => {
    // Gemini rejects a content without parts, and wants turns to alternate: merge neighbours.
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last !== undefined && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content);
        if (text !== '') system.push({ text });
        break;
      }
      case 'user':
        push('user', contentParts(message.content));
        break;
      case 'assistant': {
        const parts = contentParts(message.content);
        const calls = message.tool_calls ?? [];
        // Calls Gemini did not make (another model's, after a fallback, or a client's own history)
        // carry no signature at all; Gemini 3 refuses a step whose first call has none.
        const foreign = signed && calls.length > 0 && !calls.some((call) => signatureOf(call) !== undefined);
        calls.forEach((call, i) => {
          callNames.set(call.id, call.function.name);
          // Back exactly where it came from: Gemini 3 refuses its own calls without their signature.
          const signature = signatureOf(call) ?? (foreign && i === 0 ? FOREIGN_SIGNATURE : undefined);
          parts.push({
            functionCall: { name: call.function.name, args: parseArgs(call.function.arguments) },
            ...(signature !== undefined ? { thoughtSignature: signature } : {}),
          });
        });
        push('model', parts);
        break;
      }
      case 'tool': {
        const id = message.tool_call_id;
        const name = (id !== undefined ? callNames.get(id) : undefined) ?? message.name ?? id ?? '';
        push('user', [{ functionResponse: { name, response: toolResponse(textOf(message.content)) } }]);
        break;
      }
    }
  }
  return { system, contents };
}

/**
 * The placeholder Google's thought-signature guide gives for function calls in history that a
 * Gemini model did not produce: Gemini 3 then skips checking that step.
 */
export const FOREIGN_SIGNATURE = 'skip_thought_signature_validator';

/** A call's thought signature, where `signed()` in gemini.ts put it. */
function signatureOf(call: ToolCall): string | undefined {
  const signature = call.extra_content?.google?.thought_signature;
  return typeof signature === 'string' ? signature : undefined;
}

/**
 * Whether the model checks thought signatures on function calls: Gemini 3 and later do (a 400
 * without them). Gemini 1 and 2 do not, and other names are left as they are.
 */
function signsCalls(model: string): boolean {
  const major = /(?:^|\/)gemini-(\d+)/.exec(model)?.[1];
  return major !== undefined && Number(major) >= 3;
}

/** The text of a message's content; image parts have no text. */
function textOf(content: ChatMessage['content']): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

function contentParts(content: ChatMessage['content']): Part[] {
  if (content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  return content.map(contentPart);
}

function contentPart(part: ContentPart): Part {
  if (part.type === 'text') return { text: part.text };
  const url = part.image_url.url;
  const data = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s.exec(url);
  if (data !== null) {
    const mimeType = data[1] || 'application/octet-stream';
    const payload = data[3] ?? '';
    // Gemini wants base64; a data URL may carry percent-encoded text instead.
    const base64 = /;base64/i.test(data[2] ?? '')
      ? payload
      : Buffer.from(decodeURIComponent(payload), 'utf8').toString('base64');
    return { inlineData: { mimeType, data: base64 } };
  }
  const mimeType = mimeOf(url);
  return { fileData: mimeType !== undefined ? { fileUri: url, mimeType } : { fileUri: url } };
}

const MIME_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  mp3: 'audio/mp3',
  wav: 'audio/wav',
  mp4: 'video/mp4',
  txt: 'text/plain',
};

/** A MIME type guessed from the URL's extension; undefined rather than a wrong guess. */
function mimeOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.split(/[?#]/)[0] ?? url;
  }
  const extension = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return extension !== undefined ? MIME_TYPES[extension] : undefined;
}

/** Call arguments as an object: Gemini takes `args` as JSON, not text; a model's bad JSON becomes `{}`. */
function parseArgs(text: string): Json {
  try {
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** Gemini's `response` must be an object: anything else is wrapped as `{result}`. */
function toolResponse(text: string): Json {
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Plain text results are common; they are passed as they are.
  }
  return isRecord(parsed) ? parsed : { result: parsed };
}

function toGenerationConfig(request: ChatRequest, target: ModelTarget): Json {
  const config: Json = {};
  const set = (name: string, value: unknown): void => {
    if (value !== undefined) config[name] = value;
  };
  set('temperature', request.temperature);
  set('topP', request.top_p);
  set('maxOutputTokens', request.max_tokens ?? request.max_completion_tokens ?? target.maxTokens);
  if (request.stop !== undefined) {
    set('stopSequences', typeof request.stop === 'string' ? [request.stop] : [...request.stop]);
  }
  set('seed', request.seed);
  set('presencePenalty', request.presence_penalty);
  set('frequencyPenalty', request.frequency_penalty);
  set('candidateCount', request.n);
  const format = request.response_format;
  if (format?.type === 'json_object') set('responseMimeType', 'application/json');
  if (format?.type === 'json_schema') {
    set('responseMimeType', 'application/json');
    set('responseJsonSchema', format.json_schema.schema);
  }
  return config;
}

function toFunctionCallingConfig(choice: ToolChoice): Json {
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'auto') return { mode: 'AUTO' };
  if (choice === 'required') return { mode: 'ANY' };
  return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
}
