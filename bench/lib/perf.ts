import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * BENCH_PERF=<dir>: `perf record -g` of the Temporal dev server over a phase, to `<dir>/<name>.data`
 * (`node --import tsx bench/go-perf-top.ts <temporal binary> <file>` names its Go functions). Go keeps frame
 * pointers, so the call graph needs no debug info. Returns what stops the recording; a no-op without it.
 */
export function recordServer(pid: number, name: string): () => Promise<void> {
  const dir = process.env.BENCH_PERF;
  if (!dir) return async () => {};
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^\w.-]+/g, '-')}.data`);
  const perf = spawn('perf', ['record', '-q', '-F', '999', '-g', '-p', String(pid), '-o', file], { stdio: 'ignore' });
  // No perf installed: 'error' instead of 'exit', and the phase runs unrecorded.
  const exited = new Promise<void>((resolve) => {
    perf.once('exit', () => resolve());
    perf.once('error', () => resolve());
  });
  return async () => {
    perf.kill('SIGINT');
    await exited;
  };
}
