import { problemBody, ProblemError } from '../shared/problem-error.js';
import type { OperationOutcome } from './batch.js';

/**
 * Bytes of JSON the `results` of one batch may hold. Each operation is bounded on its own (a list
 * page by its byte cap, a resource by the body limit), but a hundred of them were not: five list
 * reads in a 300-byte batch answered 450 MB.
 */
export const MAX_RESULT_BYTES = 8 * 1024 * 1024;

/** Methods whose result can be replaced by a problem: they changed nothing. */
const SAFE = new Set(['GET', 'HEAD']);

/**
 * What is left of one batch's result bytes. An atomic batch asks {@link ResultBudget.take} and is
 * refused whole when an outcome does not fit; a non-atomic one asks {@link ResultBudget.fit}.
 */
export class ResultBudget {
  #left: number;

  constructor(
    readonly typeBase: string,
    readonly limit: number = MAX_RESULT_BYTES,
  ) {
    this.#left = limit;
  }

  /** Counts `outcome` against the budget; false (and nothing counted) when it does not fit. */
  take(outcome: OperationOutcome): boolean {
    const size = Buffer.byteLength(JSON.stringify(outcome)) + 1;
    if (size > this.#left) return false;
    this.#left -= size;
    return true;
  }

  /**
   * The result a non-atomic batch reports for `op`: its outcome when it fits. A read that does not
   * fit gets a `results-too-large` problem instead (it changed nothing, so it can simply be sent
   * again alone). A write that does not fit has already happened, so it keeps its status and
   * headers (ETag, Location) and only its body is left out: never a problem that hides a write.
   */
  fit(op: { readonly method: string; readonly path: string }, outcome: OperationOutcome): OperationOutcome {
    if (this.take(outcome)) return outcome;
    if (SAFE.has(op.method)) return this.refusal(op);
    const bare = { status: outcome.status, headers: outcome.headers };
    this.#left = Math.max(0, this.#left - Buffer.byteLength(JSON.stringify(bare)));
    return bare;
  }

  /** The `results-too-large` problem of `op`, as an operation outcome. */
  refusal(op: { readonly path: string }): OperationOutcome {
    const problem = new ProblemError(
      'results-too-large',
      `The results of this batch would exceed ${this.limit} bytes with this operation's; send it in a batch of its own, or as a request of its own.`,
      { limit: this.limit },
    );
    return {
      status: 413,
      headers: { 'content-type': 'application/problem+json; charset=utf-8' },
      body: problemBody(problem, op.path, this.typeBase),
    };
  }
}
