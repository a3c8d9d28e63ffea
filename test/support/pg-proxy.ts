/**
 * A TCP proxy in front of a real PostgreSQL server, for the faults a store must report honestly and
 * that a healthy server never produces on demand: a connection that breaks after a statement was
 * sent and before its answer (the statement runs and commits all the same), and a database that
 * stops answering (the proxy's port refuses connections).
 *
 * It reads the frontend protocol (PostgreSQL docs, "Message Formats"): an untyped startup message,
 * then messages of one type byte and an int32 length that counts itself. It never needs SSL: the
 * store connects without it.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A frontend message as the proxy saw it: its type byte and its body as UTF-8 text. */
export interface FrontendMessage {
  readonly type: string;
  readonly text: string;
}

export interface PgProxy {
  /** `url` with the proxy's host and port. */
  readonly url: string;
  /**
   * Arms a one-shot cut: the first message `match` accepts is forwarded (a Bind with everything up
   * to its Sync, so the statement runs), the client's side is destroyed at once, and the server's
   * side is closed once its answer arrives. Resolves when the server has answered, that is when
   * the statement was processed.
   */
  cutAfter(match: (message: FrontendMessage) => boolean): Promise<void>;
  /** Stops listening and destroys every connection: the database is unreachable from now on. */
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port in front of the server of `url` (a postgres:// URL). */
export async function startPgProxy(url: string): Promise<PgProxy> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  let armed: { match: (m: FrontendMessage) => boolean; done: () => void } | undefined;

  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    let buffered = Buffer.alloc(0);
    let started = false;
    /** Set once this connection's cut is armed: the server's next answer ends it. */
    let cutting: { done: () => void; atSync: boolean } | undefined;

    client.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const header = started ? 5 : 4;
        if (buffered.length < header) return;
        const length = started ? buffered.readInt32BE(1) + 1 : buffered.readInt32BE(0);
        if (buffered.length < length) return;
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        const type = started ? String.fromCharCode(message[0]!) : '';
        started = true;
        upstream.write(message);
        if (cutting === undefined && armed !== undefined && type !== '') {
          const seen = { type, text: message.subarray(5).toString('utf8') };
          if (armed.match(seen)) {
            cutting = { done: armed.done, atSync: type === 'B' };
            armed = undefined;
            if (!cutting.atSync) client.destroy();
          }
        } else if (cutting?.atSync && type === 'S') {
          client.destroy();
          cutting.atSync = false;
        }
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutting !== undefined && !cutting.atSync) {
        upstream.destroy();
        cutting.done();
        return;
      }
      if (!client.destroyed) client.write(chunk);
    });
    client.on('close', () => {
      // Without a cut in progress, a closed client closes its upstream as a real network would.
      if (cutting === undefined) upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return {
    url: proxied.toString(),
    cutAfter: (match) =>
      new Promise<void>((resolve) => {
        armed = { match, done: resolve };
      }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
