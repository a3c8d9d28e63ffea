import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources; spawned CLI processes use the built dist (npm test builds first).
    alias: {
      '@truce/protocol': src('protocol'),
      '@truce/runtime': src('runtime'),
      '@truce/server': src('server'),
      '@truce/client': src('client'),
      '@truce/gateway': src('gateway'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Starts a throwaway PostgreSQL cluster for the run (or skips its suites loudly): docs/testing.md.
    // Likewise a throwaway redis-server for the shared rate-limit tests.
    globalSetup: ['test/setup/postgres.ts', 'test/setup/redis.ts'],
  },
});
