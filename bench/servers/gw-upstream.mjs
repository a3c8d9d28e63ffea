// B4/B5's plain upstream: a bare node:http server answering every GET with the same small static
// JSON document (no framework, no storage), so that what is measured in front of it is the proxy.
// It speaks the bench's child protocol (servers/ipc.mjs): reports its port, closes when asked.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';

const BODY = Buffer.from(JSON.stringify({ id: 'item', title: 'a static JSON document', count: 1, ok: true }));
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

const server = createServer((req, res) => {
  // Any request body is read and dropped; the answer is always the same.
  req.resume();
  res.writeHead(200, HEADERS);
  res.end(BODY);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('message', (message) => {
    if (message && message.stop) shutdown();
  });
  process.on('disconnect', shutdown);
  process.on('SIGTERM', shutdown);
  process.send({ ready: true, port: server.address().port });
});
