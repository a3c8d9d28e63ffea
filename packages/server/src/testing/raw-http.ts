import { connect, type Socket } from 'node:net';

/** One HTTP/1.1 response as read off a socket. */
export interface RawResponse {
  readonly status: number;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What a raw exchange saw: every response in order, and how the connection ended. */
export interface RawExchange {
  readonly responses: readonly RawResponse[];
  readonly text: string;
  /** 'closed' when the server ended the connection, 'timeout' when the wait ran out first. */
  readonly end: 'closed' | 'reset' | 'timeout';
  /** Milliseconds from connecting to the end. */
  readonly elapsed: number;
}

/**
 * Talks HTTP/1.1 to a server through a plain TCP socket, for what `fetch` cannot send (unknown
 * methods, broken request lines, half bodies). `script` writes to the socket and may wait; the
 * exchange ends when the server closes the connection or after `waitMs`.
 */
export function rawExchange(
  url: string,
  script: string | ((socket: Socket) => Promise<void> | void),
  waitMs = 3000,
): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let settled = false;
    const finish = (end: RawExchange['end']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses: parseResponses(text), text, end, elapsed: Date.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), waitMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => finish('reset'));
    socket.on('close', () => finish('closed'));
    socket.on('connect', () => {
      if (typeof script === 'string') socket.write(script);
      else void Promise.resolve(script(socket)).catch(() => finish('reset'));
    });
  });
}

/** Splits a byte stream into responses (Content-Length framed or body-less). */
export function parseResponses(text: string): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = Buffer.from(rest.slice(end + 4), 'latin1')
      .subarray(0, length)
      .toString('utf8');
    responses.push({ status: Number(statusLine!.split(' ')[1]), headers, body });
    rest = rest.slice(end + 4 + Buffer.byteLength(body, 'utf8'));
  }
  return responses;
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
