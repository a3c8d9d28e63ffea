/**
 * A Server-Sent Events parser (HTML Living Standard, "Interpreting an event stream") over a fetch
 * body, for runtimes with no `EventSource` and for requests `EventSource` cannot make (custom
 * headers, `Last-Event-ID` chosen by the caller).
 */

/** One dispatched event, or a comment line (`: ...`), which the spec ignores but servers use. */
export type StreamItem =
  | { readonly kind: 'event'; readonly type: string; readonly data: string; readonly id: string | undefined }
  | { readonly kind: 'retry'; readonly ms: number }
  | { readonly kind: 'comment'; readonly text: string };

/** Reads `body` to its end, yielding events as their blank line arrives. */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamItem> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let type = '';
  let data: string[] = [];
  let id: string | undefined;
  // The stream's first character may be a BOM, which the spec says to skip.
  let first = true;
  try {
    for (;;) {
      const chunk = await reader.read();
      buffer += chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      if (first && buffer.length > 0) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
        first = false;
      }
      // Lines end with CRLF, LF or CR; a CR at the very end may be the first half of a CRLF.
      for (;;) {
        const match = /\r\n|\n|\r/.exec(buffer);
        if (match === null || (match[0] === '\r' && match.index === buffer.length - 1 && !chunk.done)) break;
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === '') {
          if (data.length > 0) yield { kind: 'event', type: type || 'message', data: data.join('\n'), id };
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) {
          yield { kind: 'comment', text: line.slice(1).trimStart() };
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') type = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) yield { kind: 'retry', ms: Number(value) };
      }
      if (chunk.done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
