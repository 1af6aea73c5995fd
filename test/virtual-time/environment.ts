import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type LogEntry } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { LeaseSearchKeys } from '../../lib/search-attributes';
import { ensureTemporalTestServer } from '../../scripts/temporal-test-server';

/** Every time-skipping server says this: it predates the capability flags, and nothing here heartbeats. */
const EXPECTED_WARNING = /activity_failure_include_heartbeat/;

export interface VirtualTime {
  readonly env: TestWorkflowEnvironment;
  /** The server's clock: virtual, skipped ahead while a client awaits a workflow's result or `env.sleep`. */
  now(): Promise<number>;
  /** Runs `body` while a worker with these (stub) activities polls a task queue of its own. */
  withWorker<T>(activities: object, body: (taskQueue: string) => Promise<T>): Promise<T>;
}

/**
 * One time-skipping test server for the test file (its clock is global, so the file's tests run one
 * after another, as vitest runs them), with the lease search attributes registered: the server refuses
 * an upsert of an attribute it does not know ("search attribute ScaiVaultRole is not defined") and
 * implements AddSearchAttributes but not ListSearchAttributes, so `ensureSearchAttributes` cannot be used.
 */
export function useTimeSkippingEnvironment(): VirtualTime {
  let env: TestWorkflowEnvironment | undefined;

  beforeAll(async () => {
    Runtime.install({
      logger: new DefaultLogger('WARN', printUnexpected),
      telemetryOptions: { logging: { filter: 'WARN', forward: {} } },
    });
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: ensureTemporalTestServer() } },
    });
    await env.connection.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: Object.fromEntries(
        Object.values(LeaseSearchKeys).map(({ name, type }) => [
          name,
          temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${type}`],
        ]),
      ),
    });
  });
  afterAll(async () => {
    await env?.teardown();
  });

  const current = () => {
    if (!env) throw new Error('the time-skipping environment is not started');
    return env;
  };
  return {
    get env() {
      return current();
    },
    now: () => current().currentTimeMs(),
    async withWorker(activities, body) {
      const taskQueue = `virtual-time-${randomUUID()}`;
      const worker = await Worker.create({
        connection: current().nativeConnection,
        taskQueue,
        // The suite's global setup bundles the workflows once, with the product's failure converter.
        workflowBundle: { codePath: inject('workflowBundlePath') },
        activities,
      });
      return await worker.runUntil(body(taskQueue));
    },
  };
}

function printUnexpected({ level, message, meta }: LogEntry) {
  if (EXPECTED_WARNING.test(message)) return;
  console.error(`[${level}] ${message}`, meta ?? '');
}
