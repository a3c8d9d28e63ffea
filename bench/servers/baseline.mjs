// The baseline: a bare Fastify 5 app with the simplest handlers for the same requests, and no
// storage. Its throughput is what this machine, this Node.js and Fastify can do over loopback
// while sharing the CPUs with the load generator; Truce is measured against it in the same run.
import Fastify from 'fastify';
import { serveForBench } from './ipc.mjs';

const app = Fastify({ logger: false });
let writes = 0;

// B1: receives (and parses) the same JSON body as Truce, answers a small object and an ETag.
app.put('/things/:id', async (request, reply) => {
  writes += 1;
  const { id } = request.params;
  const count = typeof request.body?.count === 'number' ? request.body.count : null;
  reply.header('etag', `"${writes}-baseline"`);
  return { id, count, ok: true };
});

// B2: the simplest GET: a 200 with a small JSON body, no validators, no lookup.
app.get('/things/:id', async (request) => ({ id: request.params.id, title: 'benchmark thing', count: 1 }));

await serveForBench(app);
