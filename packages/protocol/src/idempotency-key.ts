/**
 * The `Idempotency-Key` request header (IETF httpapi draft "The Idempotency-Key HTTP Header
 * Field"). The draft defines the value as a Structured Field String (RFC 8941 3.3.3); many
 * clients send a bare token instead, so both are accepted. Keys are 1 to 255 characters.
 */

/** Longest key accepted. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** The parsed key, or why the header is malformed. */
export type IdempotencyKeyResult =
  { readonly ok: true; readonly key: string } | { readonly ok: false; readonly message: string };

// A bare key: visible ASCII without quotes, commas, semicolons or backslashes (which would make
// it ambiguous with a structured field), so UUIDs, ULIDs and base64url values all fit.
const BARE = /^[!#$%&'*+\-.0-9:<=>?@A-Z[\]^_`a-z{|}~/]+$/;

/** Parses an `Idempotency-Key` header value. */
export function parseIdempotencyKey(value: string): IdempotencyKeyResult {
  const text = value.trim();
  if (text.startsWith('"')) return parseSfString(text);
  if (text === '') return { ok: false, message: 'Idempotency-Key is empty' };
  if (!BARE.test(text)) {
    return {
      ok: false,
      message: 'Idempotency-Key must be a quoted string or a token of visible ASCII characters',
    };
  }
  return checkLength(text);
}

/** RFC 8941 3.3.3: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, unescaped = %x20-21 / %x23-5B / %x5D-7E. */
function parseSfString(text: string): IdempotencyKeyResult {
  let out = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text[i]!;
    const code = ch.charCodeAt(0);
    if (ch === '\\') {
      const next = text[i + 1];
      if (next !== '"' && next !== '\\')
        return { ok: false, message: 'Idempotency-Key has a bad escape (only \\" and \\\\)' };
      out += next;
      i++;
    } else if (ch === '"') {
      if (i !== text.length - 1)
        return { ok: false, message: 'Idempotency-Key has characters after its closing quote' };
      return out === '' ? { ok: false, message: 'Idempotency-Key is empty' } : checkLength(out);
    } else if (code < 0x20 || code > 0x7e) {
      return { ok: false, message: 'Idempotency-Key may only hold printable ASCII' };
    } else {
      out += ch;
    }
  }
  return { ok: false, message: 'Idempotency-Key has no closing quote' };
}

function checkLength(key: string): IdempotencyKeyResult {
  return key.length > MAX_IDEMPOTENCY_KEY_LENGTH
    ? { ok: false, message: `Idempotency-Key is longer than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters` }
    : { ok: true, key };
}
