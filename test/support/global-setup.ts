import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { FAILURE_CONVERTER_PATH } from '../../temporal/connection';
import { startDevServer, stopDevServer } from '../../scripts/temporal-cli';
import { WORKFLOW_BUNDLER_OPTIONS, WORKFLOWS_PATH } from '../../worker/worker';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let server: ChildProcess | undefined;

/** One Temporal dev server for the whole suite, on a free port, and one workflow bundle every worker reuses. */
export async function setup(project: TestProject) {
  const port = await freePort();
  const dir = path.join(os.tmpdir(), `scaivault-test-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const [child, bundle] = await Promise.all([
    startDevServer({ port, headless: true, dbFile: path.join(dir, 'temporal.db') }),
    bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      ...WORKFLOW_BUNDLER_OPTIONS,
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
    }),
  ]);
  server = child;
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('temporalAddress', `127.0.0.1:${port}`);
  project.provide('workflowBundlePath', bundlePath);
}

export async function teardown() {
  if (server) await stopDevServer(server);
}
