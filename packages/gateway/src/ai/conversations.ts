import { randomUUID } from 'node:crypto';
import type { AiCallInfo } from '../calls/record.js';
import { gatewayProblem, type GatewayProblem } from '../problems/answer.js';
import { usageOf } from './assemble.js';
import { ModelCallFailed } from './invoke.js';
import {
  callInfo,
  ChunkWriter,
  checkBudget,
  costOf,
  endStreamWith,
  readJson,
  sendJson,
  spend,
  withInfo,
  type AiExchange,
  type AiOutcome,
} from './route.js';
import type { TruceState } from './state.js';
import type { ChatChunk, ChatMessage, ChatRequest, ContentPart } from './types.js';

/**
 * Conversations kept in Truce (docs/ai.md, "Conversations"). A conversation is a resource of the
 * state collection holding its turns; a turn names the version it continues (If-Match), and is
 * first claimed by appending it, pending, with a compare-and-set on that version. Of turns racing
 * on one version exactly one claim succeeds, before any model is called; the others get
 * `turn-conflict` naming the turn that won. The answer is stored on the claimed turn, guarded by a
 * JSON Patch `test` of its id, when the model has finished (for a stream, when it ends).
 */

/** One turn as stored. */
export interface Turn {
  readonly id: string;
  /** The conversation's ETag this turn continued. */
  readonly continues: string;
  readonly user: ChatMessage;
  readonly answer: ChatMessage | null;
  readonly status: 'pending' | 'done' | 'failed';
  readonly since: string;
  readonly by: string | null;
  readonly provider?: string;
  readonly model?: string;
  readonly usage?: { readonly input: number; readonly output: number };
  readonly error?: string;
}

interface Conversation {
  readonly id: string;
  /** The consumer that started it (null on routes without keys). */
  readonly owner?: string | null;
  readonly model: string;
  readonly system?: string;
  readonly turns: readonly Turn[];
}

/** Options a turn may set for its model call. */
const TURN_OPTIONS = ['max_tokens', 'temperature', 'top_p', 'stop', 'seed'] as const;

export async function handleConversations(
  x: AiExchange,
  state: TruceState,
  rest: string[],
): Promise<AiOutcome> {
  const collection = `/${x.route.ai.state!.conversations}`;
  if (rest.length === 0) {
    if (x.method !== 'POST') throw notAllowed(x, 'POST');
    const input = await jsonBody(x);
    const model = input['model'];
    if (typeof model !== 'string' || !x.invoker.aliases.includes(model)) {
      throw gatewayProblem('model-request-invalid', 'A conversation names the model alias its turns use.', {
        alias: typeof model === 'string' ? model : '',
        attempts: [],
        errors: [{ pointer: '/model', message: `must be one of ${x.invoker.aliases.join(', ')}` }],
      });
    }
    const system = input['system'];
    if (system !== undefined && typeof system !== 'string') {
      throw invalidInput('/system', 'must be a string');
    }
    const created = await state.request('POST', collection, {
      body: { model, ...(system !== undefined ? { system } : {}), owner: x.actor, turns: [] },
      actor: x.actor,
    });
    return relay(
      x,
      created,
      created.status === 201 ? conversationUrl(x, (created.body as { id: string }).id) : undefined,
    );
  }
  const id = rest[0]!;
  if (!/^[A-Za-z0-9._~-]{1,200}$/.test(id)) throw gatewayProblem('not-found', 'No such conversation.');
  const path = `${collection}/${encodeURIComponent(id)}`;
  if (rest.length === 1) {
    if (x.method !== 'GET' && x.method !== 'HEAD') throw notAllowed(x, 'GET');
    const read = await state.request('GET', path, { actor: x.actor });
    if (read.status === 200) ownedBy(x, id, read.body as Conversation);
    return relay(x, read);
  }
  if (rest.length === 2 && rest[1] === 'turns') {
    if (x.method !== 'POST') throw notAllowed(x, 'POST');
    return turn(x, state, id, path);
  }
  throw gatewayProblem('no-route', `AI route ${x.route.name} has no ${x.method} ${x.path}.`);
}

async function turn(x: AiExchange, state: TruceState, id: string, path: string): Promise<AiOutcome> {
  const input = await jsonBody(x);
  const ifMatch = x.req.headers['if-match'];
  if (typeof ifMatch !== 'string' || ifMatch.trim() === '' || ifMatch.trim() === '*') {
    throw gatewayProblem(
      'precondition-required',
      'A turn names the conversation version it continues: send If-Match with the ETag you read.',
    );
  }
  const yours = ifMatch.trim();
  const content = input['content'];
  if (typeof content !== 'string' && !Array.isArray(content)) {
    throw invalidInput('/content', 'must be a string or an array of content parts');
  }
  const read = await state.request('GET', path, { actor: x.actor });
  if (read.status !== 200) return relay(x, read);
  const conversation = read.body as Conversation;
  ownedBy(x, id, conversation);
  const current = read.etag!;
  if (current !== yours) throw lost(x, id, yours, current, conversation);
  const last = conversation.turns.at(-1);
  const turnTimeout = x.route.ai.state!.turnTimeoutMs;
  const patch: unknown[] = [];
  if (last?.status === 'pending') {
    const age = Date.now() - Date.parse(last.since);
    if (age < turnTimeout) {
      throw gatewayProblem(
        'turn-in-progress',
        `Turn ${last.id} of conversation ${id} is still being answered.`,
        { conversation: id, turn: last.id, since: last.since },
        { 'retry-after': String(Math.max(1, Math.ceil((turnTimeout - age) / 1000))) },
      );
    }
    // Its gateway died before storing the answer: the turn is given up, in the same write.
    const index = conversation.turns.length - 1;
    patch.push(
      { op: 'test', path: `/turns/${index}/id`, value: last.id },
      { op: 'replace', path: `/turns/${index}/status`, value: 'failed' },
      { op: 'add', path: `/turns/${index}/error`, value: 'abandoned' },
    );
  }
  const pending: Turn = {
    id: randomUUID(),
    continues: yours,
    user: { role: 'user', content: content as string | ContentPart[] },
    answer: null,
    status: 'pending',
    since: new Date().toISOString(),
    by: x.actor,
  };
  patch.push({ op: 'add', path: '/turns/-', value: pending });
  // A spent token budget refuses the turn before it takes a place in the conversation.
  await checkBudget(x);
  // The claim: a compare-and-set on the version the turn continues.
  const claimed = await state.request('PATCH', path, {
    headers: { 'content-type': 'application/json-patch+json', 'if-match': yours },
    body: patch,
    actor: x.actor,
  });
  if (claimed.status === 412 || claimed.status === 409) {
    const now = await state.request('GET', path, { actor: x.actor });
    throw lost(x, id, yours, now.etag ?? '', now.body as Conversation);
  }
  if (claimed.status !== 200) return relay(x, claimed);
  const index = conversation.turns.length;
  const request: ChatRequest = {
    model: conversation.model,
    messages: history(conversation, pending.user),
    ...Object.fromEntries(TURN_OPTIONS.filter((k) => input[k] !== undefined).map((k) => [k, input[k]])),
  };
  return answerTurn(x, state, { id, path, index, turn: pending, request, stream: input['stream'] === true });
}

async function answerTurn(
  x: AiExchange,
  state: TruceState,
  t: { id: string; path: string; index: number; turn: Turn; request: ChatRequest; stream: boolean },
): Promise<AiOutcome> {
  const info = (fields: Partial<AiCallInfo>): AiCallInfo =>
    callInfo(t.request.model, { stream: t.stream, conversation: t.id, ...fields });
  const store = (fields: Record<string, unknown>) =>
    state.request('PATCH', t.path, {
      headers: { 'content-type': 'application/json-patch+json' },
      body: [
        { op: 'test', path: `/turns/${t.index}/id`, value: t.turn.id },
        ...Object.entries(fields).map(([key, value]) => ({
          op: 'add',
          path: `/turns/${t.index}/${key}`,
          value,
        })),
      ],
      actor: x.actor,
    });
  const out = new ChunkWriter(x, false);
  try {
    const answer = await x.invoker.invoke({
      alias: t.request.model,
      request: t.request,
      stream: t.stream,
      // The turn is claimed: a client that goes away does not stop the answer from being stored.
      signal: new AbortController().signal,
      context: {
        id: `chatcmpl-${t.turn.id.replaceAll('-', '')}`,
        created: Math.floor(Date.now() / 1000),
        model: t.request.model,
      },
      ...(t.stream ? { onChunk: (chunk: ChatChunk) => out.write(chunk) } : {}),
    });
    await spend(x, answer.usage);
    const message = answer.completion.choices[0]?.message;
    const stored = await store({
      status: 'done',
      answer: {
        role: 'assistant',
        content: message?.content ?? null,
        ...(message?.tool_calls ? { tool_calls: message.tool_calls } : {}),
      },
      provider: answer.provider,
      model: answer.model,
      usage: { input: answer.usage.input, output: answer.usage.output },
    });
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
    if (stored.status !== 200) {
      // The model answered but the answer could not be kept: the turn stays pending until the turn
      // timeout gives it up, and the client is told rather than shown an answer the history lacks.
      const problem = gatewayProblem(
        'bad-gateway',
        `The answer of turn ${t.turn.id} could not be stored (the state server answered ${stored.status}).`,
      );
      if (!x.res.headersSent) throw withInfo(problem, used);
      return {
        status: 200,
        code: problem.code,
        responseBytes: endStreamWith(x, problem),
        requestBytes: 0,
        requestBody: null,
        responseBody: null,
        ai: used,
        upstreamMs: null,
        target: `ai:${answer.provider}`,
      };
    }
    const finished = (stored.body as Conversation | null)?.turns?.[t.index] ?? null;
    const result = {
      conversation: t.id,
      etag: stored.etag ?? null,
      turn: finished,
      usage: usageOf(answer.usage),
    };
    if (!t.stream) {
      if (stored.etag) x.answerHeaders['etag'] = stored.etag;
      x.answerHeaders['location'] = conversationUrl(x, t.id);
      return { ...sendJson(x, 201, JSON.stringify(result), null, used), target: `ai:${answer.provider}` };
    }
    return {
      status: 200,
      code: null,
      responseBytes: out.finish(answer.completion, 'turn', result),
      requestBytes: 0,
      requestBody: null,
      responseBody: null,
      ai: used,
      upstreamMs: null,
      target: `ai:${answer.provider}`,
    };
  } catch (error) {
    const problem = error instanceof ModelCallFailed ? error.problem : (error as GatewayProblem);
    // The claimed turn is marked failed so that the conversation can go on from the next version.
    await store({ status: 'failed', error: (problem as { code?: string }).code ?? 'failed' }).catch(
      () => undefined,
    );
    const used = info({
      attempts: error instanceof ModelCallFailed ? error.attempts.length : 0,
      ttftMs: out.ttftMs,
    });
    if (!x.res.headersSent) throw withInfo(problem, used);
    return {
      status: 200,
      code: problem.code,
      responseBytes: out.bytes + endStreamWith(x, problem),
      requestBytes: 0,
      requestBody: null,
      responseBody: null,
      ai: used,
      upstreamMs: null,
      target: null,
    };
  }
}

/**
 * A conversation belongs to the consumer that started it: another consumer of the route is told it
 * does not exist (404, not 403, so that ids cannot be probed).
 */
function ownedBy(x: AiExchange, id: string, conversation: Conversation): void {
  if ((conversation.owner ?? null) !== x.actor) throw gatewayProblem('not-found', `No conversation ${id}.`);
}

/** The messages a turn sends: the system text, every answered turn, then the new message. */
function history(conversation: Conversation, next: ChatMessage): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (conversation.system) messages.push({ role: 'system', content: conversation.system });
  for (const turn of conversation.turns) {
    if (turn.status !== 'done' || !turn.answer) continue;
    messages.push(turn.user, turn.answer);
  }
  messages.push(next);
  return messages;
}

/** 412 `turn-conflict`, naming the turn that continued the caller's version. */
function lost(
  x: AiExchange,
  id: string,
  yours: string,
  current: string,
  conversation: Conversation | null,
): GatewayProblem {
  const won = conversation?.turns?.find((turn) => turn.continues === yours) ?? null;
  return gatewayProblem(
    'turn-conflict',
    won
      ? `Turn ${won.id} continued version ${yours} of conversation ${id} first; continue ${current} instead.`
      : `Conversation ${id} is no longer at version ${yours}; continue ${current} instead.`,
    { conversation: id, yourEtag: yours, currentEtag: current, won },
    { link: `<${conversationUrl(x, id)}>; rel="latest-version"` },
  );
}

function conversationUrl(x: AiExchange, id: string): string {
  return `${x.route.prefix}/conversations/${encodeURIComponent(id)}`;
}

/** Passes a state answer on (its ETag, its problem body) to the client. */
function relay(
  x: AiExchange,
  answer: { status: number; etag: string | undefined; body: unknown },
  location?: string,
): AiOutcome {
  if (answer.etag) x.answerHeaders['etag'] = answer.etag;
  if (location) x.answerHeaders['location'] = location;
  const problem = answer.status >= 400;
  const outcome = sendJson(
    x,
    answer.status,
    JSON.stringify(answer.body),
    null,
    null,
    problem ? 'application/problem+json' : undefined,
  );
  const code = problem
    ? (((answer.body as { code?: unknown } | null)?.code as string | undefined) ?? null)
    : null;
  return { ...outcome, code };
}

async function jsonBody(x: AiExchange): Promise<Record<string, unknown>> {
  const { value: parsed } = await readJson(x);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw invalidInput('', 'must be a JSON object');
  return parsed as Record<string, unknown>;
}

function invalidInput(pointer: string, message: string): GatewayProblem {
  return gatewayProblem('validation-failed', `The body is not valid: ${pointer || 'the body'} ${message}.`, {
    errors: [{ pointer, message }],
  });
}

function notAllowed(x: AiExchange, allow: string): GatewayProblem {
  return gatewayProblem(
    'method-not-allowed',
    `${x.method} is not allowed on ${x.path}; use ${allow}.`,
    {},
    { allow },
  );
}
