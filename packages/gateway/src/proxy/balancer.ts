/** What a balancer needs to know of a target. */
export interface Weighted {
  readonly weight: number;
  /** Requests in flight to this target from this process. */
  readonly inFlight: number;
}

/**
 * Smooth weighted round-robin: every pick adds each candidate's weight to its running score, takes
 * the highest, and subtracts the total from the winner. Over any window of `sum(weights)` picks each
 * target gets exactly its share, and heavy targets are interleaved rather than picked in bursts.
 * Scores live in this balancer, keyed by target, so taking a target out and back does not reset
 * the others.
 */
export class RoundRobin<T extends Weighted> {
  private readonly scores = new Map<T, number>();

  pick(candidates: readonly T[]): T | undefined {
    let best: T | undefined;
    let bestScore = -Infinity;
    let total = 0;
    for (const c of candidates) {
      const score = (this.scores.get(c) ?? 0) + c.weight;
      this.scores.set(c, score);
      total += c.weight;
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    if (best !== undefined) this.scores.set(best, bestScore - total);
    return best;
  }
}

/**
 * Least connections, weighted: the target with the fewest requests in flight per unit of weight;
 * ties go round-robin so that an idle upstream still spreads its load.
 */
export class LeastConnections<T extends Weighted> {
  private readonly tie = new RoundRobin<T>();

  pick(candidates: readonly T[]): T | undefined {
    let least = Infinity;
    const tied: T[] = [];
    for (const c of candidates) {
      const load = c.inFlight / c.weight;
      if (load < least) {
        least = load;
        tied.length = 0;
      }
      if (load === least) tied.push(c);
    }
    return tied.length <= 1 ? tied[0] : this.tie.pick(tied);
  }
}
