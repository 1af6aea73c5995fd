import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native bridge crashes under worker threads: each test file gets its own process.
    pool: 'forks',
    maxWorkers: 2,
    // Workers the tests start in-process run their workflow threads as the shipped worker does.
    execArgv: ['--import', './worker/workflow-thread-setup.mjs'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', ['json', { outputFile: '.data/test-results.json' }]],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          globalSetup: ['test/support/global-setup.ts'],
          include: ['test/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'test/faults/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Fault injection restarts the shared Postgres: it runs alone, once every other file has finished.
        // It starts its own Temporal dev server, so it needs no global setup.
        extends: true,
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
