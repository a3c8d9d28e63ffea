/** The admin API, called with the key the operator typed once (kept for this browser session). */

const KEY = 'truce-admin-key';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, key);
}

/** A refused call: the problem the admin API answered, or the network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Record<string, unknown> | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Listeners told when the key stops working (401), so the page asks for it again. */
const unauthorised = new Set<() => void>();
export function onUnauthorised(listener: () => void): () => void {
  unauthorised.add(listener);
  return () => unauthorised.delete(listener);
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${storedKey() ?? ''}`,
    accept: 'application/json',
  };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  if (!response.ok) {
    if (response.status === 401) for (const listener of unauthorised) listener();
    const detail = typeof body?.['detail'] === 'string' ? body['detail'] : response.statusText;
    throw new ApiError(response.status, body, `${response.status}: ${detail}`);
  }
  return body as T;
}

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send the admin key in a
 * header), calling `onEvent` per event until `signal` aborts; reconnects after a drop.
 */
export async function stream(
  path: string,
  onEvent: (event: string, data: string) => void,
  signal: AbortSignal,
  onState: (state: 'open' | 'reconnecting') => void = () => undefined,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await fetch(path, {
        headers: { authorization: `Bearer ${storedKey() ?? ''}`, accept: 'text/event-stream' },
        signal,
      });
      if (response.status === 401) {
        for (const listener of unauthorised) listener();
        return;
      }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      onState('open');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length > 0) onEvent(event, data.join('\n'));
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    onState('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export interface Page<T> {
  readonly items: T[];
  readonly next: string | null;
}

export interface Call {
  readonly id: string;
  readonly time: string;
  readonly route: string | null;
  readonly consumer: string | null;
  readonly method: string;
  readonly path: string;
  readonly query: string | null;
  readonly resource: string | null;
  readonly status: number;
  readonly code: string | null;
  readonly durationMs: number;
  readonly conditional: boolean;
  readonly unconditionalWarned: boolean;
  readonly retryOf: string | null;
  readonly early: boolean;
  readonly staleBy?: { id: string; consumer: string | null; time: string } | null;
  readonly [member: string]: unknown;
}

/** `q` as a query string, leaving out empty values. */
export function query(q: Record<string, string | number | undefined | null>): string {
  const parts = Object.entries(q)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
