// M1: merging under contention (SPEC 3.7). One document with FIELDS integer fields f0, f1, ...,
// and FIELDS writers, one per field, all at once: each writer is a sequential loop of WRITES
// merge-patches of its own field (`{"f17": n}` for n = 1, 2, ...), on a connection of its own.
// The sides differ only in the precondition the writers send, on servers with the same collection:
//
// - `truce` (Truce-Base): every PATCH carries `Truce-Base: <the ETag of the writer's own last
//   answer>`. Other writers have committed since, so the server merges (disjoint fields never
//   conflict) and answers 200 with the new ETag. History keeps 1000 versions, far more than can
//   land between two writes of one writer, so every base is still there: a 412 is unexpected.
// - `baseline` (If-Match + retry): every PATCH carries `If-Match`; a stale one gets 412
//   stale-write, and the writer retries at once with the problem's `currentEtag` until it lands.
//
// A write counts once it lands; its latency runs from its first attempt to the answer that landed
// it. Lost updates are checked twice: every 200 must show each field at least at the value its
// writer had been told had landed before the request was sent, and at the end every field must
// hold its writer's last value and `_version` must be 1 + FIELDS x WRITES (the seed, then one
// version per write). 64 x 25 writes make a round of 1,600 commits, and the bench runs at least
// two rounds per side (lib/writers.mjs): with If-Match, a round takes some 80,000 requests.
const FIELDS = 64;
const WRITES = 25;
/** Warm-up rounds are short: they only need to get the server and the connections going. */
const WARMUP_WRITES = 5;
/** A write that has not landed after this many attempts is a problem, not a slow write. */
const MAX_ATTEMPTS = 10_000;
const MERGE_PATCH = 'application/merge-patch+json';

/** @type {import('./scenario.mjs').Scenario} */
export const m1 = {
  id: 'M1',
  title: `merging under contention (${FIELDS} writers x ${WRITES} PATCHes of disjoint fields of one document), SQLite`,
  kind: 'writers',
  rate: 'commitsPerSec',
  // A round lasts as long as the server takes to land its writes, not BENCH_DURATION.
  extraBudgetSec: 180,
  connections: FIELDS,
  resources: 0,
  sides: {
    baseline: { server: 'truce', variant: 'fields', label: 'If-Match + retry' },
    truce: { server: 'truce', variant: 'fields', label: 'Truce-Base' },
  },
  target: undefined,
  // What a writer may be answered: 412 only as If-Match's stale-write, which it then retries.
  expectedStatus: { baseline: [200, 412], truce: 200 },
  writers: { count: FIELDS, writes: WRITES, warmupWrites: WARMUP_WRITES, maxAttempts: MAX_ATTEMPTS },

  /** A fresh document per round, every field at 0, so rounds never share a resource or its history. */
  async prepare(baseUrl, round) {
    const path = `/docs/doc-${String(round).padStart(4, '0')}`;
    const doc = Object.fromEntries(Array.from({ length: FIELDS }, (_, i) => [`f${i}`, 0]));
    const response = await globalThis.fetch(baseUrl + path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(doc),
    });
    await response.arrayBuffer();
    const etag = response.headers.get('etag');
    if (response.status !== 201 || !etag) {
      throw new Error(`creating ${path} answered ${response.status} (etag ${etag ?? 'none'})`);
    }
    return {
      path,
      // The ETag each writer last saw, and the last value of each field known to have landed.
      etags: Array.from({ length: FIELDS }, () => etag),
      landed: Array.from({ length: FIELDS }, () => 0),
    };
  },

  /** The next attempt of writer `w`'s n-th write; `seen` is what had landed when it was sent. */
  attempt(side, doc, w, n) {
    const precondition = side === 'truce' ? 'truce-base' : 'if-match';
    return {
      method: 'PATCH',
      path: doc.path,
      headers: { 'content-type': MERGE_PATCH, [precondition]: doc.etags[w] },
      body: `{"f${w}":${n}}`,
      seen: [...doc.landed],
    };
  },

  /**
   * What an answer means for the writer: `landed` (go on with the next write), `retry` (the same
   * write again, If-Match only), or a problem that stops the writer.
   */
  settle(side, doc, w, n, sent, answer) {
    if (answer.status === 200) {
      const etag = answer.headers.etag;
      const body = JSON.parse(answer.body);
      if (typeof etag !== 'string') return { problem: 'a 200 without an ETag' };
      const behind = sent.seen.findIndex((value, i) => body[`f${i}`] < value);
      if (body[`f${w}`] !== n)
        return { problem: `write f${w}=${n} answered 200 with f${w}=${body[`f${w}`]}` };
      if (behind >= 0) {
        return {
          problem: `lost update: write f${w}=${n} answered f${behind}=${body[`f${behind}`]}, but f${behind}=${sent.seen[behind]} had landed before it was sent`,
        };
      }
      doc.etags[w] = etag;
      doc.landed[w] = n;
      return { landed: true };
    }
    const problem = answer.status === 0 ? undefined : safeJson(answer.body);
    if (
      side === 'baseline' &&
      answer.status === 412 &&
      problem?.code === 'stale-write' &&
      problem.currentEtag
    ) {
      doc.etags[w] = problem.currentEtag;
      return { retry: true };
    }
    return {
      problem:
        answer.status === 0
          ? `f${w}=${n}: ${answer.error}`
          : `f${w}=${n} answered ${answer.status} ${problem?.code ?? ''}`.trimEnd(),
    };
  },

  /** What the round left behind: every field at its writer's last value, one version per write. */
  async outcome(baseUrl, doc, writes) {
    const response = await globalThis.fetch(baseUrl + doc.path);
    const body = await response.json();
    if (response.status !== 200) return [`reading ${doc.path} answered ${response.status}`];
    const problems = [];
    const wrong = Array.from({ length: FIELDS }, (_, i) => `f${i}`).filter((f) => body[f] !== writes);
    if (wrong.length > 0) {
      problems.push(
        `${wrong.length} fields do not hold their last write ${writes}: ` +
          wrong
            .slice(0, 4)
            .map((f) => `${f}=${body[f]}`)
            .join(', ') +
          (wrong.length > 4 ? ', ...' : ''),
      );
    }
    const version = 1 + FIELDS * writes;
    if (body._version !== version) problems.push(`_version is ${body._version}, not ${version}`);
    return problems;
  },
};

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
