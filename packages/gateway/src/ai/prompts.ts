import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { AiCallInfo } from '../calls/record.js';
import { gatewayProblem, type GatewayProblem } from '../problems/answer.js';
import { usageOf } from './assemble.js';
import { ModelCallFailed } from './invoke.js';
import {
  callInfo,
  ChunkWriter,
  checkBudget,
  endStreamWith,
  costOf,
  readJson,
  sendJson,
  spend,
  withInfo,
  type AiExchange,
  type AiOutcome,
} from './route.js';
import type { TruceState } from './state.js';
import type { ChatChunk, ChatMessage, ChatRequest } from './types.js';

/**
 * Prompts as REST APIs (docs/ai.md, "Prompts"). A prompt is a resource of the state collection,
 * named by its id, with a template, a model alias, an input schema and an output mode; the Truce
 * server keeps its versions and its `draft → published → retired` states, and editing it is an
 * ordinary conditional write there. `POST /prompts/{name}` calls the published version; If-Match
 * pins one and is answered 412 `prompt-changed` once it is no longer the published one.
 */

interface Prompt {
  readonly id: string;
  readonly status?: string;
  readonly template?: unknown;
  readonly system?: unknown;
  readonly model?: unknown;
  readonly input?: unknown;
  readonly output?: { readonly type?: unknown; readonly schema?: unknown };
}

const ajv = new Ajv2020({ allErrors: true, strict: false, logger: false });
/** Compiled schemas by prompt version: a version never changes, so neither does its schema. */
const compiled = new Map<string, ValidateFunction>();
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export async function handlePrompt(x: AiExchange, state: TruceState, name: string): Promise<AiOutcome> {
  if (x.method !== 'POST') {
    throw gatewayProblem(
      'method-not-allowed',
      `${x.method} is not allowed on ${x.path}; use POST.`,
      {},
      { allow: 'POST' },
    );
  }
  if (!/^[A-Za-z0-9._~-]{1,200}$/.test(name)) throw gatewayProblem('not-found', `No prompt ${name}.`);
  const { value: input, bytes: requestBytes } = await readJson(x);
  const path = `/${x.route.ai.state!.prompts}/${encodeURIComponent(name)}`;
  const read = await state.request('GET', path, { actor: x.actor });
  if (read.status === 404) throw gatewayProblem('not-found', `No prompt ${name}.`);
  if (read.status !== 200 || !read.etag)
    throw gatewayProblem('bad-gateway', `Reading prompt ${name} answered ${read.status}.`);
  const prompt = read.body as Prompt;
  const version = read.etag;
  const link = { link: `<${path}>; rel="latest-version"` };
  const pinned = x.req.headers['if-match'];
  if (typeof pinned === 'string' && pinned.trim() !== '*' && pinned.trim() !== version) {
    throw gatewayProblem(
      'prompt-changed',
      `Prompt ${name} is no longer at version ${pinned.trim()}.`,
      {
        prompt: name,
        yourEtag: pinned.trim(),
        publishedEtag: prompt.status === 'published' ? version : null,
      },
      link,
    );
  }
  if (prompt.status !== 'published') {
    throw gatewayProblem(
      'prompt-not-published',
      `Prompt ${name} is ${String(prompt.status ?? 'without a state')}; only published prompts can be called.`,
      { prompt: name, state: String(prompt.status ?? '') },
      link,
    );
  }
  if (typeof prompt.template !== 'string' || typeof prompt.model !== 'string') {
    throw gatewayProblem('bad-gateway', `Prompt ${name} has no template or model.`);
  }
  const faults = checkInput(x.route.name, prompt, version, input);
  if (faults.length > 0) {
    throw gatewayProblem('validation-failed', `The input of prompt ${name} is not valid.`, {
      errors: faults,
    });
  }
  const values = input as Record<string, unknown>;
  const text = prompt.template.replace(PLACEHOLDER, (_, key: string) => {
    const value = values[key];
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
  const json = prompt.output?.type === 'json';
  const schema =
    json && prompt.output?.schema && typeof prompt.output.schema === 'object'
      ? prompt.output.schema
      : undefined;
  const messages: ChatMessage[] = [];
  if (typeof prompt.system === 'string') messages.push({ role: 'system', content: prompt.system });
  messages.push({ role: 'user', content: text });
  const request: ChatRequest = {
    model: prompt.model,
    messages,
    ...(json
      ? {
          response_format: schema
            ? {
                type: 'json_schema' as const,
                json_schema: { name: 'output', schema: schema as Record<string, unknown> },
              }
            : { type: 'json_object' as const },
        }
      : {}),
  };
  // Accept: text/event-stream asks for the answer as it is written (docs/ai.md).
  const stream = acceptsEventStream(x.req.headers.accept);
  const info = (fields: Partial<AiCallInfo>): AiCallInfo =>
    callInfo(prompt.model as string, { prompt: name, promptVersion: version, stream, ...fields });
  x.answerHeaders['truce-prompt-version'] = version;
  const out = new ChunkWriter(x, false);
  const gone = new AbortController();
  const onClose = (): void => {
    if (!x.res.writableFinished) gone.abort();
  };
  x.res.on('close', onClose);
  /** A failure after the stream began can only be told in it. */
  const streamFailed = (problem: GatewayProblem, ai: AiCallInfo, target: string | null): AiOutcome => ({
    status: 200,
    code: problem.code,
    responseBytes: out.bytes + endStreamWith(x, problem),
    requestBytes,
    requestBody: null,
    responseBody: null,
    ai,
    upstreamMs: null,
    target,
  });
  try {
    await checkBudget(x);
    const answer = await x.invoker.invoke({
      alias: prompt.model,
      request,
      stream,
      signal: AbortSignal.any([gone.signal, AbortSignal.timeout(10 * 60_000)]),
      context: {
        id: `prompt-${Date.now().toString(36)}`,
        created: Math.floor(Date.now() / 1000),
        model: prompt.model,
      },
      ...(stream ? { onChunk: (chunk: ChatChunk) => out.write(chunk) } : {}),
    });
    await spend(x, answer.usage);
    const used = info({
      provider: answer.provider,
      model: answer.model,
      tokensIn: answer.usage.input,
      tokensOut: answer.usage.output,
      estimated: answer.usage.estimated,
      cost: costOf(x.route.ai, answer.provider, answer.model, answer.usage),
      attempts: answer.attempts,
      ttftMs: out.ttftMs,
    });
    const target = `ai:${answer.provider}`;
    const written = answer.completion.choices[0]?.message.content ?? '';
    let output: unknown = written;
    if (json) {
      const checked = checkOutput(x.route.name, name, version, schema, written);
      if ('problem' in checked) {
        if (!x.res.headersSent) throw withInfo(checked.problem, used);
        return streamFailed(checked.problem, used, target);
      }
      output = checked.value;
    }
    const result = { prompt: name, version, output, usage: usageOf(answer.usage) };
    if (!stream) return { ...sendJson(x, 200, JSON.stringify(result), null, used), target };
    // The model's chunks went out as they came; the last event is the whole result, as without a stream.
    return {
      status: 200,
      code: null,
      responseBytes: out.finish(answer.completion, 'prompt', result),
      requestBytes,
      requestBody: null,
      responseBody: null,
      ai: used,
      upstreamMs: null,
      target,
    };
  } catch (error) {
    if (!(error instanceof ModelCallFailed)) throw error;
    const used = info({ attempts: error.attempts.length, ttftMs: out.ttftMs });
    if (!x.res.headersSent) throw withInfo(error.problem, used);
    const last = error.attempts.at(-1);
    return streamFailed(error.problem, used, last ? `ai:${last.provider}` : null);
  } finally {
    x.res.off('close', onClose);
  }
}

/** Whether an Accept header asks for `text/event-stream` (with a q above 0). */
function acceptsEventStream(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    if (type !== 'text/event-stream') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function checkInput(
  route: string,
  prompt: Prompt,
  version: string,
  input: unknown,
): { pointer: string; message: string }[] {
  if (!input || typeof input !== 'object' || Array.isArray(input))
    return [{ pointer: '', message: 'must be a JSON object' }];
  const faults: { pointer: string; message: string }[] = [];
  if (prompt.input && typeof prompt.input === 'object') {
    const validate = schemaOf(`${route}\u0000in:${prompt.id}:${version}`, prompt.input);
    if (!validate(input)) {
      for (const e of validate.errors ?? []) {
        faults.push(
          e.keyword === 'required'
            ? { pointer: `${e.instancePath}/${String(e.params['missingProperty'])}`, message: 'is required' }
            : { pointer: e.instancePath, message: e.message ?? 'is invalid' },
        );
      }
    }
  }
  for (const [, key] of String(prompt.template).matchAll(PLACEHOLDER)) {
    if (
      (input as Record<string, unknown>)[key!] === undefined &&
      !faults.some((f) => f.pointer === `/${key}`)
    ) {
      faults.push({ pointer: `/${key}`, message: 'is required by the template' });
    }
  }
  return faults;
}

function checkOutput(
  route: string,
  name: string,
  version: string,
  schema: object | undefined,
  written: string,
): { value: unknown } | { problem: GatewayProblem } {
  let value: unknown;
  try {
    value = JSON.parse(written);
  } catch (error) {
    return {
      problem: gatewayProblem(
        'model-output-invalid',
        `Prompt ${name} asks for JSON, and the model wrote something else.`,
        {
          prompt: name,
          errors: [{ pointer: '', message: `is not JSON: ${(error as Error).message}` }],
          output: written.slice(0, 4096),
        },
      ),
    };
  }
  if (!schema) return { value };
  // Per route: two state servers may both hold a prompt of this name at this version.
  const validate = schemaOf(`${route}\u0000out:${name}:${version}`, schema);
  if (validate(value)) return { value };
  return {
    problem: gatewayProblem(
      'model-output-invalid',
      `The model's answer to prompt ${name} does not match its output schema.`,
      {
        prompt: name,
        errors: (validate.errors ?? []).map((e) => ({
          pointer:
            e.keyword === 'required'
              ? `${e.instancePath}/${String(e.params['missingProperty'])}`
              : e.instancePath,
          message: e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid'),
        })),
        output: written.slice(0, 4096),
      },
    ),
  };
}

function schemaOf(key: string, schema: object): ValidateFunction {
  let validate = compiled.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema);
    } catch (error) {
      throw gatewayProblem(
        'bad-gateway',
        `The prompt's schema does not compile: ${(error as Error).message}`,
      );
    }
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, validate);
  }
  return validate;
}
