import {
  formatEntityTag,
  parsePreconditions,
  type ParsedPreconditions,
  type Representation,
} from '@truce/protocol';
import { ProblemError } from '../shared/problem-error.js';
import type { Head } from '../store/types.js';
import { header, type HeaderBag } from './context.js';

/** Reads the four RFC 9110 conditional headers; malformed entity-tag lists are a 400 problem. */
export function readPreconditions(h: HeaderBag): ParsedPreconditions {
  const parsed = parsePreconditions({
    ifMatch: header(h, 'if-match'),
    ifNoneMatch: header(h, 'if-none-match'),
    ifModifiedSince: header(h, 'if-modified-since'),
    ifUnmodifiedSince: header(h, 'if-unmodified-since'),
  });
  if (!parsed.ok) {
    const names = parsed.errors.map((e) => e.header).join(', ');
    throw new ProblemError('malformed-request', `Malformed conditional header: ${names}.`, {
      errors: parsed.errors.map((e) => ({ pointer: '', header: e.header, message: e.message })),
    });
  }
  return parsed.value;
}

/** The validators precondition evaluation compares against. */
export function selected(head: Head | null): Representation | null {
  return head ? { etag: head.etag, lastModified: new Date(head.updatedAt) } : null;
}

/** The If-Match value as the client sent it, for `yourEtag`; one tag is given as that tag. */
export function yourEtag(p: ParsedPreconditions): string | null {
  const m = p.ifMatch;
  if (!m) return null;
  if (m.any) return '*';
  if (m.tags.length === 1) return formatEntityTag(m.tags[0]!);
  return m.tags.map(formatEntityTag).join(', ');
}
