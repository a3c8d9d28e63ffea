// The baseline: a bare Fastify 5 app with the simplest handlers for the same requests, and no
// storage. Its throughput is what this machine, this Node.js and Fastify can do over loopback
// while sharing the CPUs with the load generator; Truce is measured against it in the same run.
// The first argument names the routes a scenario needs (default `things`), so that B1 and B2
// measure the same app whatever other scenarios exist.
import Fastify from 'fastify';
import { serveForBench } from './ipc.mjs';

const ROUTES = { things, members, products };

const routes = process.argv[2] ?? 'things';
if (!Object.hasOwn(ROUTES, routes)) {
  throw new Error(`usage: node servers/baseline.mjs [${Object.keys(ROUTES).join('|')}]`);
}
const app = Fastify({ logger: false });
ROUTES[routes](app);
await serveForBench(app);

function things(app) {
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
}

function members(app) {
  let created = 0;
  // U1: parses the same JSON body as Truce and answers 201 with a Location, checking nothing.
  app.post('/members', async (request, reply) => {
    created += 1;
    const id = `member-${created}`;
    reply.code(201).header('location', `/members/${id}`).header('etag', `"${created}-baseline"`);
    return { id, email: request.body?.email ?? null, ok: true };
  });
}

function products(app) {
  // D1: the stock in memory, decremented the way Truce answers: 200, or 409 below the minimum 0.
  // One event loop, so the count is exact without any locking; nothing is stored.
  const stock = new Map();
  app.post('/products', async (request, reply) => {
    const { id, stock: initial } = request.body;
    stock.set(id, initial);
    reply.code(201).header('location', `/products/${id}`);
    return { id, stock: initial };
  });
  app.post('/products/:id/_increment', async (request, reply) => {
    const { id } = request.params;
    const current = stock.get(id);
    if (current === undefined) return reply.code(404).send({ code: 'not-found' });
    const next = current + request.body.by;
    if (next < 0)
      return reply.code(409).send({ code: 'insufficient', current, by: request.body.by, minimum: 0 });
    stock.set(id, next);
    return { id, stock: next };
  });
  app.get('/products/:id', async (request, reply) => {
    const current = stock.get(request.params.id);
    if (current === undefined) return reply.code(404).send({ code: 'not-found' });
    return { id: request.params.id, stock: current };
  });
}
