/**
 * Entity tags and the `If-Match` / `If-None-Match` field values built from them (RFC 9110 section
 * 8.8.3 and section 13.1).
 */

/** A parsed entity tag. `opaque` is the tag's content without the surrounding double quotes. */
export interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

/**
 * A parsed `If-Match` or `If-None-Match` field value: either `*` (any current representation) or
 * a list of entity tags.
 */
export type EntityTagCondition =
  { readonly any: true } | { readonly any: false; readonly tags: readonly EntityTag[] };

// RFC 9110 section 8.8.3:
//   entity-tag = [ weak ] opaque-tag
//   weak       = %s"W/"
//   opaque-tag = DQUOTE *etagc DQUOTE
//   etagc      = %x21 / %x23-7E / obs-text   (obs-text = %x80-FF)
// Header values reach us as byte strings (one char per octet), so obs-text is U+0080 to U+00FF.
const ETAGC = '[\\x21\\x23-\\x7E\\x80-\\xFF]';
const ENTITY_TAG = new RegExp(`^(W/)?"(${ETAGC}*)"$`);
const OPAQUE = new RegExp(`^${ETAGC}*$`);
// OWS = *( SP / HTAB ), RFC 9110 section 5.6.3.
const isOws = (c: string | undefined): boolean => c === ' ' || c === '\t';

/**
 * Parses one entity tag such as `"abc"` or `W/"abc"`. The `W/` prefix is case-sensitive, as the
 * RFC's `%s` marks it. Returns `null` for anything that does not match the grammar exactly,
 * including surrounding whitespace.
 */
export function parseEntityTag(value: string): EntityTag | null {
  const match = ENTITY_TAG.exec(value);
  if (match === null) return null;
  return { weak: match[1] !== undefined, opaque: match[2] ?? '' };
}

/**
 * Formats an entity tag for an `ETag` header: `"opaque"` or `W/"opaque"`.
 *
 * @throws TypeError when `opaque` contains a character an entity tag cannot carry (a double quote,
 * a control character, a space or anything above U+00FF); emitting it would corrupt the header.
 */
export function formatEntityTag(tag: EntityTag): string {
  if (!OPAQUE.test(tag.opaque)) {
    throw new TypeError(`entity tag content ${JSON.stringify(tag.opaque)} contains characters outside etagc`);
  }
  return `${tag.weak ? 'W/' : ''}"${tag.opaque}"`;
}

/**
 * Parses an `If-Match` or `If-None-Match` field value: `*`, or a comma-separated list of entity
 * tags with optional whitespace. Empty list elements (`"a", , "b"`) are tolerated as RFC 9110
 * section 5.6.1 asks of recipients, but at least one tag must be present.
 *
 * Returns `null` when the value is malformed: an unquoted tag, `*` combined with tags, an empty
 * value, or anything else outside the grammar. Several field lines of the same name should be
 * joined with `", "` before calling.
 */
export function parseEntityTagCondition(headerValue: string): EntityTagCondition | null {
  if (trimOws(headerValue) === '*') return { any: true };
  const tags: EntityTag[] = [];
  const s = headerValue;
  let i = 0;
  // A hand-written scanner rather than split(','): a comma is a legal etagc, so `"a,b"` is one tag.
  while (i < s.length) {
    // Skip OWS and empty list elements.
    while (i < s.length && (isOws(s[i]) || s[i] === ',')) i++;
    if (i >= s.length) break;
    const start = i;
    if (s.startsWith('W/', i)) i += 2;
    if (s[i] !== '"') return null;
    const close = s.indexOf('"', i + 1);
    if (close === -1) return null;
    const tag = parseEntityTag(s.slice(start, close + 1));
    if (tag === null) return null;
    tags.push(tag);
    i = close + 1;
    while (i < s.length && isOws(s[i])) i++;
    // After a tag only a list separator or the end may follow.
    if (i < s.length && s[i] !== ',') return null;
  }
  return tags.length === 0 ? null : { any: false, tags };
}

/**
 * Strong comparison (RFC 9110 section 8.8.3.2): both tags are strong and their opaque parts are
 * identical. A weak tag never matches strongly, not even itself.
 */
export function strongCompare(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/**
 * Weak comparison (RFC 9110 section 8.8.3.2): the opaque parts are identical, whether or not
 * either tag is weak.
 */
export function weakCompare(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isOws(s[start])) start++;
  while (end > start && isOws(s[end - 1])) end--;
  return s.slice(start, end);
}
