// PostgreSQL for the benchmarks. TRUCE_BENCH_PG_URL names a server to use as it is; otherwise a
// throwaway cluster is started with PostgreSQL's durable defaults (fsync, synchronous_commit and
// full_page_writes on, unlike the test cluster), so that its numbers compare with durable SQLite.
import { startPostgresCluster } from '../../scripts/postgres-cluster.mjs';

export { startPostgresCluster };

/**
 * A PostgreSQL database for a benchmark run: `stop()` removes a cluster started here and leaves a
 * TRUCE_BENCH_PG_URL server alone.
 * @param {{ log?: (message: string) => void }} [options]
 * @returns {Promise<{ url: string, external: boolean, stop: () => Promise<void> }>}
 */
export async function benchPostgres({ log = () => {} } = {}) {
  const url = process.env.TRUCE_BENCH_PG_URL;
  if (url) return { url, external: true, stop: async () => {} };
  const cluster = await startPostgresCluster({ log });
  return { url: cluster.url, external: false, stop: cluster.stop };
}
