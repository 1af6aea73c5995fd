import type { Connection } from '@temporalio/client';
import { loadConfig } from '../lib/config';
import { announceReady, stopWithParent } from '../lib/supervised';
import { createLogger } from '../lib/logger';
import { ensureReconcileSchedule } from '../temporal/schedules';
import { connectClient, ensureSearchAttributes } from '../temporal/connection';
import { payloadKeyring } from '../store';
import { openMigratedStore } from '../store/open';
import { createWorker } from './worker';

/** `npm run worker`: the lease workflows and their activities, on their own. */
async function main() {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'worker');
  const { stores, masterKeys } = await openMigratedStore(config);
  const client = await connectClient(
    config.temporal.address,
    config.temporal.namespace,
    payloadKeyring(masterKeys),
    config.temporal.transport,
  );
  await ensureSearchAttributes(client.connection as Connection, config.temporal.namespace);
  await ensureReconcileSchedule(client, config.temporal.taskQueue);
  const { worker, close } = await createWorker({ stores, masterKeys, ...config.temporal, tuning: config.worker });
  await client.connection.close();
  // Worker.run() drains on SIGINT/SIGTERM by itself: in-flight activities finish or are retried elsewhere.
  log.info({ taskQueue: config.temporal.taskQueue, temporal: config.temporal.address }, 'worker running');
  const running = worker.run();
  stopWithParent(() => worker.getState() === 'RUNNING' && worker.shutdown());
  announceReady();
  await running;
  await close();
  await stores.close();
  log.info('worker stopped');
}

main().catch((error) => {
  console.error('worker failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
