import { formatEntityTag, type ParsedPreconditions, type Representation } from '@truce/protocol';
import type { Head } from '../store/types.js';

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
