import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long, and how much, a closing connection keeps reading what the client still sends. */
export interface LingerBounds {
  readonly ms: number;
  readonly bytes: number;
}

/** Each server's open sockets, and those already answered and only lingering before close. */
interface Tracked {
  readonly open: Set<Socket>;
  readonly lingering: Set<Socket>;
}

const tracked = new WeakMap<Server, Tracked>();

/** Starts tracking the sockets of `server`, so that {@link destroyLingering} and drains can find them. */
export function trackSockets(server: Server): void {
  const sets: Tracked = { open: new Set(), lingering: new Set() };
  tracked.set(server, sets);
  server.on('connection', (socket: Socket) => {
    sets.open.add(socket);
    socket.once('close', () => {
      sets.open.delete(socket);
      sets.lingering.delete(socket);
    });
  });
}

/**
 * Closes a connection whose answer is written while the client may still be sending, the way
 * nginx's lingering close does: our side ends (FIN after the answer), and what the client still
 * sends is read and thrown away until it stops, `done()` says the request is complete, or the
 * bounds run out. Closing at once instead would make the kernel answer the unread bytes with a
 * reset, and a client still writing its body would see EPIPE or ECONNRESET instead of the answer.
 */
export function linger(socket: Socket, bounds: LingerBounds, done: () => boolean = () => false): void {
  if (socket.destroyed) return;
  const server = (socket as Socket & { server?: Server }).server;
  if (server) tracked.get(server)?.lingering.add(socket);
  if (!socket.writableEnded) socket.end();
  // Whatever still arrives goes to the request (dumped) or the failed parser; keep it flowing.
  socket.resume();
  const startBytes = socket.bytesRead;
  const deadline = Date.now() + bounds.ms;
  const timer = setInterval(() => {
    const over = socket.bytesRead - startBytes > bounds.bytes || Date.now() >= deadline;
    if (over || done()) socket.destroy();
  }, 20);
  socket.once('close', () => clearInterval(timer));
  // The client closed its side: it sends nothing more.
  socket.once('end', () => socket.destroy());
}

/** Ends the connections of `server` that are only lingering: their answers are already sent. */
export function destroyLingering(server: Server): void {
  for (const socket of tracked.get(server)?.lingering ?? []) socket.destroy();
}

/** Cuts every connection of `server` still open, answered or not (the drain deadline passed). */
export function destroyAll(server: Server): void {
  server.closeAllConnections();
  for (const socket of tracked.get(server)?.open ?? []) socket.destroy();
}
