// The contract between a server child and lib/child.mjs: the child listens on a free loopback
// port, reports it over the IPC channel, and closes cleanly when asked (or when the parent goes
// away), so that `node --cpu-prof` gets to write its profile on exit.

/**
 * Starts `app` (a Fastify instance) on 127.0.0.1 and an OS-chosen port, tells the parent the
 * port, and wires the shutdown paths.
 * @param {import('fastify').FastifyInstance} app
 * @param {() => Promise<void>} [afterClose] extra cleanup once the server is closed
 */
export async function serveForBench(app, afterClose = async () => {}) {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  let closing;
  const shutdown = () => {
    closing ??= app
      .close()
      .then(afterClose)
      .then(
        () => process.exit(0),
        (error) => {
          console.error(error);
          process.exit(1);
        },
      );
    return closing;
  };
  process.on('message', (message) => {
    if (message && message.stop) shutdown();
  });
  // The parent died or closed the channel: do not outlive it.
  process.on('disconnect', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.send({ ready: true, port: address.port });
}
