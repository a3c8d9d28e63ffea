/**
 * A line diff for diff3: Myers' O((N+M)D) shortest edit script ("An O(ND) Difference Algorithm and
 * Its Variations", 1986), reduced to the hunks a three-way merge needs.
 *
 * Lines are compared as small integers (the caller interns them), so comparing two lines is one
 * `===`. The common prefix and suffix are cut off first; they are free to skip and are where most
 * of a long text sits when two people edit it.
 *
 * @internal Nothing here is re-exported from the package entry point.
 */

/**
 * The most line edits (insertions plus deletions, after the common prefix and suffix are cut off)
 * a diff searches for. Time grows as (N+M) times this and memory as its square (about 2 MB at
 * 1000); past it, the differing middle is reported as one hunk, which is still a correct diff, only
 * a coarse one, so a merge of two such texts is reported as a conflict rather than computed slowly.
 */
export const MAX_LINE_EDITS = 1000;

/**
 * One changed run: base lines `[baseStart, baseEnd)` became side lines `[sideStart, sideEnd)`.
 * Either range may be empty (an insertion or a deletion), never both. Lines between two hunks are
 * equal on both sides, and there is at least one of them.
 */
export interface Hunk {
  readonly baseStart: number;
  readonly baseEnd: number;
  readonly sideStart: number;
  readonly sideEnd: number;
}

/** The hunks that turn `base` into `side`, in order. Equal inputs give `[]`. */
export function diffLines(
  base: readonly number[],
  side: readonly number[],
  maxEdits: number = MAX_LINE_EDITS,
): Hunk[] {
  let start = 0;
  while (start < base.length && start < side.length && base[start] === side[start]) start++;
  let baseEnd = base.length;
  let sideEnd = side.length;
  while (baseEnd > start && sideEnd > start && base[baseEnd - 1] === side[sideEnd - 1]) {
    baseEnd--;
    sideEnd--;
  }
  if (baseEnd === start && sideEnd === start) return [];
  const matches = matchLines(base, side, start, baseEnd - start, sideEnd - start, maxEdits);
  if (matches === undefined) return [{ baseStart: start, baseEnd, sideStart: start, sideEnd }];

  // Every gap between consecutive matched pairs (and at either end of the middle) is a hunk.
  const hunks: Hunk[] = [];
  let b = start;
  let s = start;
  for (let i = 0; i < matches.base.length; i++) {
    const mb = start + (matches.base[i] as number);
    const ms = start + (matches.side[i] as number);
    if (mb > b || ms > s) hunks.push({ baseStart: b, baseEnd: mb, sideStart: s, sideEnd: ms });
    b = mb + 1;
    s = ms + 1;
  }
  if (b < baseEnd || s < sideEnd) hunks.push({ baseStart: b, baseEnd, sideStart: s, sideEnd });
  return hunks;
}

/**
 * The matched pairs of a longest common subsequence of `a[offset, offset + n)` and
 * `b[offset, offset + m)`, as ascending positions relative to `offset`; `undefined` when more than
 * `maxEdits` edits are needed.
 */
function matchLines(
  a: readonly number[],
  b: readonly number[],
  offset: number,
  n: number,
  m: number,
  maxEdits: number,
): { base: number[]; side: number[] } | undefined {
  const limit = Math.min(n + m, maxEdits);
  // v[center + k] is the furthest x reached on diagonal k (y = x - k). Only diagonals of the same
  // parity as d are written in round d, and only the other parity is read, so one array serves.
  const center = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  // trace[d] holds v after round d for k = -d, -d + 2, ..., d, at index (k + d) / 2: the d-th
  // round's frontier, which is all the backtrack needs and keeps memory quadratic in d, not in n.
  const trace: Int32Array[] = [];
  for (let d = 0; d <= limit; d++) {
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[center + k - 1] as number) < (v[center + k + 1] as number));
      let x = down ? (v[center + k + 1] as number) : (v[center + k - 1] as number) + 1;
      let y = x - k;
      while (x < n && y < m && a[offset + x] === b[offset + y]) {
        x++;
        y++;
      }
      v[center + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m);
    }
    const frontier = new Int32Array(d + 1);
    for (let k = -d; k <= d; k += 2) frontier[(k + d) / 2] = v[center + k] as number;
    trace.push(frontier);
  }
  return undefined;
}

// Walks back from (n, m) through the frontiers of rounds d - 1, d - 2, ..., 0, collecting the
// diagonal (matching) steps of the path the forward pass found.
function backtrack(trace: readonly Int32Array[], n: number, m: number): { base: number[]; side: number[] } {
  const base: number[] = [];
  const side: number[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length; d > 0; d--) {
    const previous = trace[d - 1] as Int32Array;
    const at = (k: number): number => previous[(k + d - 1) / 2] as number;
    const k = x - y;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const previousK = down ? k + 1 : k - 1;
    const previousX = at(previousK);
    // The edit step (a line inserted from b, or a line of a deleted) lands here; the snake follows.
    const snakeStart = down ? previousX : previousX + 1;
    while (x > snakeStart) {
      x--;
      y--;
      base.push(x);
      side.push(y);
    }
    x = previousX;
    y = previousX - previousK;
  }
  while (x > 0) {
    x--;
    y--;
    base.push(x);
    side.push(y);
  }
  return { base: base.reverse(), side: side.reverse() };
}
