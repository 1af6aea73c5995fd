import path from 'node:path';

/**
 * The Node flags a product process runs with (`npm run worker`, `npm start`, docker-compose, the bench
 * and the tests say the same): TypeScript through tsx, and for the worker the workflow threads' setup.
 */
export const WORKFLOW_THREAD_SETUP = path.join(__dirname, 'workflow-thread-setup.mjs');

export const nodeFlagsFor = (entry: string) => [
  '--import',
  'tsx',
  ...(path.basename(path.dirname(entry)) === 'worker' ? ['--import', WORKFLOW_THREAD_SETUP] : []),
];
