import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { nodeFlagsFor } from '../../worker/node-flags';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Runs one of the product's entry points (`worker/main.ts`, `api/main.ts`, `scripts/dev-stack.ts`) as its
 * own process.
 */
export function runEntry(entry: string, env: Record<string, string>): ChildProcess & { output: () => string } {
  // `node --import tsx`, not the tsx CLI: the CLI forks a second process that a SIGKILL would miss.
  const child = spawn(process.execPath, [...nodeFlagsFor(entry), path.join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, SCAIVAULT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  return Object.assign(child, { output: () => output });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
