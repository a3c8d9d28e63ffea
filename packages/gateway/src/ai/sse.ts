/**
 * Server-Sent Events as providers stream them: an incremental parser of the `text/event-stream`
 * format (https://html.spec.whatwg.org/multipage/server-sent-events.html) and the writer of the
 * gateway's own Chat Completions stream.
 */
import type { SseEvent } from './types.js';

/** The most text one event may buffer before it is dispatched: a stream that never ends an event must not eat memory. */
export const SSE_MAX_EVENT_CHARS = 8 * 1024 * 1024;

/** The last event of a Chat Completions stream. */
export const SSE_DONE = 'data: [DONE]\n\n';

/** One `data:` event carrying `value` as JSON. */
export function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/**
 * Parses a stream of text (already decoded from UTF-8) into events. Chunks may be split anywhere,
 * even between the CR and LF of one line ending.
 */
export class SseParser {
  /** The start of a line whose end has not come yet. */
  private line = '';
  /** The previous chunk ended with CR: an LF starting the next one belongs to that line ending. */
  private afterCr = false;
  private data: string[] = [];
  private hasData = false;
  private event: string | undefined;
  private id: string | undefined;
  /** Characters held for the event being read (its data lines and the partial line). */
  private held = 0;
  /** No text came yet: a byte order mark may start the stream. */
  private first = true;

  /** The events completed by `text`. Throws when one event grows beyond {@link SSE_MAX_EVENT_CHARS}. */
  push(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    if (this.first && text !== '') {
      this.first = false;
      // The format allows one leading byte order mark, which is not part of the first field name.
      if (text.startsWith('\uFEFF')) start = 1;
    }
    if (this.afterCr && text.startsWith('\n')) start = 1;
    this.afterCr = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.line + text.slice(start, i);
      this.line = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.afterCr = true;
        }
      }
      start = i + 1;
      this.take(line, events);
    }
    this.line += text.slice(start);
    this.check();
    return events;
  }

  /**
   * The stream ended: the events still owed. Unlike a browser, which drops an event not followed by
   * a blank line, this dispatches it: a provider that closes right after its last data line still
   * meant it, and that line is often the usage or the finish_reason.
   */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.line !== '') this.take(this.line, events);
    this.line = '';
    this.afterCr = false;
    this.dispatch(events);
    return events;
  }

  private take(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.hasData = true;
        this.held += value.length + 1;
        this.check();
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        // The format ignores ids containing NUL.
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        // `retry:` and unknown fields mean nothing to a proxy reading one response.
        break;
    }
  }

  private dispatch(events: SseEvent[]): void {
    if (this.hasData) events.push({ event: this.event, data: this.data.join('\n'), id: this.id });
    this.data = [];
    this.hasData = false;
    this.event = undefined;
    this.held = 0;
    // The last event id persists across events, as in a browser's EventSource.
  }

  private check(): void {
    if (this.held + this.line.length > SSE_MAX_EVENT_CHARS) {
      throw new Error(
        `an event stream sent more than ${SSE_MAX_EVENT_CHARS} characters without ending an event`,
      );
    }
  }
}
