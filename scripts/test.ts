import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * `npm test`: typecheck and lint (`npm run lint`), then the whole vitest suite (unit tests and the real-Temporal,
 * real-Postgres ones), then one closing line CI reads: `tests: N passed, N failed`.
 */
const root = path.resolve(__dirname, '..');
const report = path.join(root, '.data', 'test-results.json');
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

const extraArgs = process.argv.slice(2);
let failedOutside = 0;
if (run('npx', ['tsc', '--noEmit']) !== 0) {
  console.error('typecheck failed');
  failedOutside++;
}
if (run('npm', ['run', '--silent', 'lint']) !== 0) {
  console.error('lint failed (npm run lint: ESLint and Prettier)');
  failedOutside++;
}
rmSync(report, { force: true });
const vitestStatus = run('npx', ['vitest', 'run', ...extraArgs]);

let passed = 0;
let failed = failedOutside;
if (existsSync(report)) {
  const results = JSON.parse(readFileSync(report, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numFailedTestSuites: number;
  };
  passed = results.numPassedTests;
  failed +=
    results.numFailedTests +
    (results.numFailedTests === 0 && vitestStatus !== 0 ? Math.max(results.numFailedTestSuites, 1) : 0);
} else if (vitestStatus !== 0) {
  failed++;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || vitestStatus !== 0 ? 1 : 0);
