import type { CapturedBody, RawBody } from './record.js';

const REDACTED = '[redacted]';

/**
 * What the call log stores of a body: JSON Pointer redaction over the whole captured body first,
 * then the cut at `log.bodies`, then UTF-8 text, or base64 when the bytes are not text (SPEC 5.6).
 * A JSON body that has pointers to redact but was too long to capture whole is not stored at all:
 * storing it unredacted would leak what the operator asked to hide.
 */
export function storedBody(
  body: RawBody | null,
  limit: number,
  pointers: readonly string[],
): CapturedBody | null {
  if (body === null || limit === 0) return null;
  let data = body.data;
  const json = /^application\/([a-z0-9.+-]*\+)?json\b/i.test(body.contentType ?? '');
  if (pointers.length > 0 && json) {
    if (body.truncated) return { text: '', encoding: 'utf8', truncated: true };
    try {
      const value = JSON.parse(data.toString('utf8')) as unknown;
      if (redact(value, pointers)) data = Buffer.from(JSON.stringify(value), 'utf8');
    } catch {
      // Not JSON after all: stored as it came, like any other body.
    }
  }
  const cut = data.subarray(0, limit);
  const truncated = body.truncated || data.length > cut.length;
  const text = utf8(cut, truncated);
  return text === undefined
    ? { text: cut.toString('base64'), encoding: 'base64', truncated }
    : { text, encoding: 'utf8', truncated };
}

/**
 * One strict decoder for every body: `decode` without `stream` keeps no state between calls, and
 * making a TextDecoder costs about 3 µs, six times a decode of a small body (B4's variant d).
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as UTF-8, allowing a character cut in half at the end of a truncated body. */
function utf8(bytes: Buffer, truncated: boolean): string | undefined {
  const decoder = UTF8;
  for (let drop = 0; drop <= (truncated ? 3 : 0); drop++) {
    try {
      return decoder.decode(bytes.subarray(0, bytes.length - drop));
    } catch {
      // try without the last byte
    }
  }
  return undefined;
}

/** Replaces the value at each pointer that exists; true when anything was replaced. */
function redact(root: unknown, pointers: readonly string[]): boolean {
  let changed = false;
  for (const pointer of pointers) {
    const tokens = pointer
      .split('/')
      .slice(1)
      .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (tokens.length === 0) continue;
    let node: unknown = root;
    for (let i = 0; i < tokens.length - 1 && node !== null && typeof node === 'object'; i++) {
      node = (node as Record<string, unknown>)[tokens[i]!];
    }
    const last = tokens[tokens.length - 1]!;
    if (node !== null && typeof node === 'object' && Object.prototype.hasOwnProperty.call(node, last)) {
      (node as Record<string, unknown>)[last] = REDACTED;
      changed = true;
    }
  }
  return changed;
}

/** Headers with the listed names' values replaced. */
export function redactHeaders(
  headers: Record<string, string>,
  names: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = names.includes(name) ? REDACTED : value;
  return out;
}
