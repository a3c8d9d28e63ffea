import type { Socket } from 'node:net';
import { ProblemError } from '../shared/problem-error.js';

/** How many change-feed streams may be open at once. */
export interface StreamLimits {
  /** Streams open at once on this server (each holds a connection and up to a page of changes). */
  readonly maxStreams: number;
  /**
   * Streams open at once on one connection. An HTTP/1.1 connection answers in order and a stream
   * never ends by itself, so a second stream pipelined behind the first could never be answered:
   * without this, 3,000 pipelined stream requests on one socket each read a page of changes.
   */
  readonly maxStreamsPerConnection: number;
}

/** Defaults of {@link StreamLimits}. */
export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxStreams: 1000, maxStreamsPerConnection: 1 };

/** Streams open per connection; weak, so a connection's entry goes with it. */
const perConnection = new WeakMap<Socket, number>();

/**
 * Counts a new stream on `socket`, or refuses it with 503 `busy` when a limit is reached. `open` is
 * how many streams this server has open now. The returned function uncounts it when it ends.
 */
export function admitStream(limits: StreamLimits, open: number, socket: Socket): () => void {
  const mine = perConnection.get(socket) ?? 0;
  if (mine >= limits.maxStreamsPerConnection) {
    throw new ProblemError(
      'busy',
      `This connection already has ${mine} change-feed stream${mine === 1 ? '' : 's'} open, the most one connection may have; open another connection, or end the stream first.`,
      {},
      { 'retry-after': '1' },
    );
  }
  if (open >= limits.maxStreams) {
    throw new ProblemError(
      'busy',
      `The server has ${open} change-feed streams open, the most it allows; retry later or poll the JSON feed.`,
      {},
      { 'retry-after': '5' },
    );
  }
  perConnection.set(socket, mine + 1);
  let counted = true;
  return () => {
    if (!counted) return;
    counted = false;
    perConnection.set(socket, (perConnection.get(socket) ?? 1) - 1);
  };
}
