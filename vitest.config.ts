import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores here and in CI: more forks only thrash.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
