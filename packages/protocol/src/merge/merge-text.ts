/**
 * Three-way line merge (diff3) of strings, for the members a merge policy lists under `text`.
 *
 * The method is the usual one (GNU diff3, Khanna, Kuber and Pierce, "A Formal Investigation of
 * Diff3", 2007): diff base against each side, lay both sets of hunks over the base's lines, and
 * group hunks that overlap. A group changed by one side takes that side's lines; a group changed by
 * both takes their lines if they are equal and is a conflict otherwise.
 */
import type { Hunk } from './line-diff.js';
import { diffLines } from './line-diff.js';

/**
 * One overlapping change found by {@link mergeText}. `baseLines` is the range of base lines both
 * sides changed, zero-based and half-open (`[2, 2]` is an insertion before base line 2, that is
 * the third line); `base`, `yours` and `theirs` are each side's lines for that range, joined with
 * `\n` and without a final newline.
 */
export interface TextMergeConflict {
  readonly baseLines: [number, number];
  readonly base: string;
  readonly yours: string;
  readonly theirs: string;
}

/** The result of {@link mergeText}: the merged text, or every overlapping change in line order. */
export type TextMergeResult =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly conflicts: readonly TextMergeConflict[] };

type SideHunk = Hunk & { readonly side: 'yours' | 'theirs' };

/**
 * Merges two edits of the same text line by line. Changes to different lines are all kept
 * (including changes to neighbouring lines); identical changes are taken once; different changes
 * to the same lines are conflicts. An insertion counts as overlapping a change that starts or ends
 * where it is inserted, and two insertions at the same place overlap (so two different lines
 * appended at the end conflict), because their order cannot be decided.
 *
 * Lines are split at `\n` only, so a `\r` stays part of its line and a text without a final
 * newline round-trips exactly. A side that needs more than 1000 line edits (insertions plus
 * deletions) from the base, after their common first and last lines, is treated as one change of
 * everything in between, so very different texts give one conflict instead of a slow diff.
 */
export function mergeText(base: string, yours: string, theirs: string): TextMergeResult {
  if (yours === theirs || base === yours) return { ok: true, value: theirs };
  if (base === theirs) return { ok: true, value: yours };

  const ids = new Map<string, number>();
  const intern = (line: string): number => {
    let id = ids.get(line);
    if (id === undefined) ids.set(line, (id = ids.size));
    return id;
  };
  const lines = { base: base.split('\n'), yours: yours.split('\n'), theirs: theirs.split('\n') };
  const baseIds = lines.base.map(intern);
  const hunks: SideHunk[] = [
    ...diffLines(baseIds, lines.yours.map(intern)).map((hunk) => ({ ...hunk, side: 'yours' as const })),
    ...diffLines(baseIds, lines.theirs.map(intern)).map((hunk) => ({ ...hunk, side: 'theirs' as const })),
  ].sort((a, b) => a.baseStart - b.baseStart || a.baseEnd - b.baseEnd);

  const out: string[] = [];
  const conflicts: TextMergeConflict[] = [];
  let copied = 0;
  for (let i = 0; i < hunks.length;) {
    const group: SideHunk[] = [hunks[i] as SideHunk];
    // Sorted by start, so the first hunk's start is the group's.
    const start = group[0]?.baseStart ?? 0;
    let end = group[0]?.baseEnd ?? 0;
    // An insertion (an empty hunk) at `end` makes a hunk of the other side starting there overlap.
    let insertionAtEnd = start === end;
    for (i++; i < hunks.length; i++) {
      const next = hunks[i] as SideHunk;
      const isInsertion = next.baseStart === next.baseEnd;
      const touches = next.baseStart === end && (insertionAtEnd || isInsertion);
      if (next.baseStart >= end && !touches) break;
      group.push(next);
      if (next.baseEnd > end) {
        end = next.baseEnd;
        insertionAtEnd = false;
      }
      if (isInsertion && next.baseStart === end) insertionAtEnd = true;
    }
    append(out, lines.base.slice(copied, start));
    copied = end;
    const mine = sideLines(group, 'yours', lines.yours, start, end);
    const other = sideLines(group, 'theirs', lines.theirs, start, end);
    if (mine === undefined || other === undefined || sameLines(mine, other)) {
      append(out, mine ?? other ?? []);
    } else {
      const baseText = lines.base.slice(start, end).join('\n');
      conflicts.push({
        baseLines: [start, end],
        base: baseText,
        yours: mine.join('\n'),
        theirs: other.join('\n'),
      });
    }
  }
  if (conflicts.length > 0) return { ok: false, conflicts };
  append(out, lines.base.slice(copied));
  return { ok: true, value: out.join('\n') };
}

// What one side made of base lines [start, end): undefined when none of its hunks is in the group.
// Around and between its own hunks a side equals the base line for line, so its lines for the group
// run from its first hunk's start (less the unchanged base lines before it) to its last hunk's end
// (plus the unchanged base lines after it).
function sideLines(
  group: readonly SideHunk[],
  side: SideHunk['side'],
  sideText: readonly string[],
  start: number,
  end: number,
): string[] | undefined {
  const own = group.filter((hunk) => hunk.side === side);
  const first = own[0];
  const last = own[own.length - 1];
  if (first === undefined || last === undefined) return undefined;
  return sideText.slice(first.sideStart - (first.baseStart - start), last.sideEnd + (end - last.baseEnd));
}

// Not out.push(...lines): spreading a long text's lines would overflow the call stack.
function append(out: string[], lines: readonly string[]): void {
  for (const line of lines) out.push(line);
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((line, i) => line === b[i]);
}
