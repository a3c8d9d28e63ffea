import { describe, expect, it } from 'vitest';
import { changesTests } from './conformance/changes.suite.js';
import { commitTests } from './conformance/commit.suite.js';
import { concurrencyTests } from './conformance/concurrency.suite.js';
import { crudTests } from './conformance/crud.suite.js';
import { documentTests } from './conformance/documents.suite.js';
import { filterTests } from './conformance/filter.suite.js';
import { createHarness } from './conformance/harness.suite.js';
import { historyTests } from './conformance/history.suite.js';
import { feedRetentionTests, idempotencyTests, reindexTests } from './conformance/idempotency.suite.js';
import { incrementTests } from './conformance/increment.suite.js';
import { keyedCommitTests } from './conformance/keyed-commit.suite.js';
import { leaseTests } from './conformance/leases.suite.js';
import { listTests } from './conformance/list.suite.js';
import { togetherTests } from './conformance/together.suite.js';
import { referenceTests } from './conformance/references.suite.js';
import { uniqueTests } from './conformance/unique.suite.js';
import type { Store } from './types.js';

/** Options of {@link storeConformanceSuite}. */
export interface StoreConformanceOptions {
  /** Tests this adapter does not run: exact test name -> the reason, which is shown in the report. */
  readonly skip?: Readonly<Record<string, string>>;
}

/**
 * Registers the store conformance suite: the behaviour every {@link Store} adapter must have, run
 * once per adapter (STYLE: one conformance suite, every adapter). Call it at the top level of a
 * vitest file; `factory` must return a fresh, empty store for each test, and the suite closes it.
 *
 * Covers heads and versions, ETags, compare-and-set commits and their atomicity, history and its
 * retention, the change feed, listing with cursors and filters, document round trips, many
 * concurrent writers (nothing lost, nothing duplicated), calls made together (each keeps its own
 * outcome), unique keys, references between resources
 * and bounded increments, each under concurrency as well, and leases with the writes they stop.
 *
 * @example
 * storeConformanceSuite('sqlite in memory', () => openSqliteStore({ path: ':memory:' }));
 */
export function storeConformanceSuite(
  name: string,
  factory: () => Promise<Store> | Store,
  options: StoreConformanceOptions = {},
): void {
  const skip = options.skip ?? {};
  describe(`store conformance: ${name}`, () => {
    const harness = createHarness(factory, skip);
    describe('heads', () => crudTests(harness));
    describe('commit', () => commitTests(harness));
    describe('history', () => historyTests(harness));
    describe('changes', () => changesTests(harness));
    describe('list', () => listTests(harness));
    describe('filters', () => filterTests(harness));
    describe('documents', () => documentTests(harness));
    describe('concurrency', () => concurrencyTests(harness));
    describe('calls made together', () => togetherTests(harness));
    describe('unique keys', () => uniqueTests(harness));
    describe('references', () => referenceTests(harness));
    describe('increment', () => incrementTests(harness));
    describe('leases', () => leaseTests(harness));
    describe('idempotency keys', () => idempotencyTests(harness));
    describe('keyed commits', () => keyedCommitTests(harness));
    describe('reindex', () => reindexTests(harness));
    describe('feed retention', () => feedRetentionTests(harness));

    it('every skip names an existing test', () => {
      expect(Object.keys(skip).filter((test) => !harness.names.has(test))).toStrictEqual([]);
    });
  });
}
