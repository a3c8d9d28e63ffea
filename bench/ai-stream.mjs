// Streaming overhead of an AI route (issue 15): time to first token and the gaps between chunks,
// called directly on a local fake OpenAI-compatible provider and through the gateway, in one run.
// The provider streams CHUNKS chunks GAP_MS apart; each side is called ROUNDS times, alternating,
// one call at a time, over keep-alive connections. The target: the gateway adds under 2 ms to the
// time to first token and keeps the inter-chunk timing.
// Usage: npm run build && node bench/ai-stream.mjs   (ROUNDS, CHUNKS, GAP_MS, PROVIDER=openai|anthropic)
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { request, Agent } from 'undici';
import { resolveGatewayConfig } from '../packages/gateway/dist/config/load.js';
import { createGateway } from '../packages/gateway/dist/gateway.js';

const ROUNDS = Number(process.env.ROUNDS ?? 300);
const CHUNKS = Number(process.env.CHUNKS ?? 20);
const GAP_MS = Number(process.env.GAP_MS ?? 5);
const PROVIDER = process.env.PROVIDER ?? 'openai';

/** A provider that streams CHUNKS pieces GAP_MS apart in OpenAI's or Anthropic's format. */
function fakeProvider() {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
      const send = () => {
        if (PROVIDER === 'anthropic') {
          if (i === 0) {
            res.write(
              `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'm', usage: { input_tokens: 10, output_tokens: 1 } } })}\n\n`,
            );
            res.write(
              `event: content_block_start\ndata: ${JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })}\n\n`,
            );
          }
          res.write(
            `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `w${i} ` } })}\n\n`,
          );
        } else {
          res.write(
            `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: null }] })}\n\n`,
          );
        }
        i++;
        if (i < CHUNKS) return void setTimeout(send, GAP_MS);
        if (PROVIDER === 'anthropic') {
          res.write(
            `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: CHUNKS } })}\n\n`,
          );
          res.end(`event: message_stop\ndata: {"type":"message_stop"}\n\n`);
        } else {
          res.write(
            `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
          );
          res.write(
            `data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: CHUNKS, total_tokens: 10 + CHUNKS } })}\n\n`,
          );
          res.end('data: [DONE]\n\n');
        }
      };
      send();
    });
  });
}

/** One streamed call: ms to the first content chunk, and the gaps between content chunks. */
async function streamOnce(dispatcher, url, body) {
  const started = performance.now();
  const res = await request(url, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json' },
    body,
  });
  let first = null;
  let last = null;
  const gaps = [];
  for await (const chunk of res.body) {
    const now = performance.now();
    const text = chunk.toString('utf8');
    if (!/"content"|text_delta/.test(text)) continue;
    if (first === null) first = now - started;
    else gaps.push(now - last);
    last = now;
  }
  return { ttft: first, gaps };
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

const provider = fakeProvider();
await new Promise((resolve) => provider.listen(0, '127.0.0.1', resolve));
const providerUrl = `http://127.0.0.1:${provider.address().port}`;
const config = resolveGatewayConfig(
  {
    gateway: {
      listen: '127.0.0.1:0',
      routes: [
        {
          name: 'ai',
          match: { prefix: '/ai' },
          stripPrefix: true,
          ai: {
            providers: {
              p:
                PROVIDER === 'anthropic'
                  ? { type: 'anthropic', baseUrl: providerUrl, key: 'k' }
                  : { type: 'openai', baseUrl: `${providerUrl}/v1`, key: 'k' },
            },
            models: { fast: ['p/m'] },
          },
        },
      ],
    },
  },
  { env: {} },
);
const gateway = createGateway(config, {
  access: {
    authenticate: () => {
      throw new Error('none');
    },
  },
  calls: { push: () => {} },
});
const { port } = await gateway.listen();

const direct = PROVIDER === 'anthropic' ? `${providerUrl}/v1/messages` : `${providerUrl}/v1/chat/completions`;
const directBody =
  PROVIDER === 'anthropic'
    ? JSON.stringify({
        model: 'm',
        max_tokens: 100,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      })
    : JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
const viaGateway = `http://127.0.0.1:${port}/ai/v1/chat/completions`;
const gatewayBody = JSON.stringify({
  model: 'fast',
  stream: true,
  messages: [{ role: 'user', content: 'hi' }],
});

const agent = new Agent({ keepAliveTimeout: 30_000 });
const results = { direct: { ttft: [], gaps: [] }, gateway: { ttft: [], gaps: [] } };
// Warm-up: connections, JIT.
for (let i = 0; i < 20; i++) {
  await streamOnce(agent, direct, directBody);
  await streamOnce(agent, viaGateway, gatewayBody);
}
for (let i = 0; i < ROUNDS; i++) {
  const order = i % 2 === 0 ? ['direct', 'gateway'] : ['gateway', 'direct'];
  for (const side of order) {
    const r = await streamOnce(
      agent,
      side === 'direct' ? direct : viaGateway,
      side === 'direct' ? directBody : gatewayBody,
    );
    results[side].ttft.push(r.ttft);
    results[side].gaps.push(...r.gaps);
  }
}
await agent.close();
await gateway.close(1000);
provider.closeAllConnections();
provider.close();

const row = (name, values) =>
  `| ${name} | ${mean(values).toFixed(2)} | ${percentile(values, 50).toFixed(2)} | ${percentile(values, 99).toFixed(2)} |`;
console.log(
  `AI route streaming, ${PROVIDER} format, ${ROUNDS} calls per side, ${CHUNKS} chunks ${GAP_MS} ms apart\n`,
);
console.log('| measure (ms) | mean | p50 | p99 |\n|---|---|---|---|');
console.log(row('time to first token, direct', results.direct.ttft));
console.log(row('time to first token, through the gateway', results.gateway.ttft));
console.log(row('gap between chunks, direct', results.direct.gaps));
console.log(row('gap between chunks, through the gateway', results.gateway.gaps));
const added = results.gateway.ttft.map((v, i) => v - results.direct.ttft[i]);
console.log(
  `\nadded to the time to first token: mean ${mean(added).toFixed(2)} ms, p50 ${percentile(added, 50).toFixed(2)} ms (target < 2 ms)`,
);
console.log(`gap change: mean ${(mean(results.gateway.gaps) - mean(results.direct.gaps)).toFixed(3)} ms`);
