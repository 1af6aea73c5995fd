import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { ensureReconcileSchedule } from '../lib/schedules';
import { connectClient } from '../lib/temporal';
import { payloadKeyring } from '../store';
import { openMigratedStore } from '../store/open';
import { createWorker } from './worker';

/** `npm run worker`: the lease workflows and their activities, on their own. */
async function main() {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'worker');
  const { stores, masterKeys } = await openMigratedStore(config);
  const { worker, close } = await createWorker({ stores, masterKeys, ...config.temporal });
  const client = await connectClient(config.temporal.address, config.temporal.namespace, payloadKeyring(masterKeys));
  await ensureReconcileSchedule(client, config.temporal.taskQueue);
  await client.connection.close();
  // Worker.run() drains on SIGINT/SIGTERM by itself: in-flight activities finish or are retried elsewhere.
  log.info({ taskQueue: config.temporal.taskQueue, temporal: config.temporal.address }, 'worker running');
  await worker.run();
  await close();
  await stores.close();
  log.info('worker stopped');
}

main().catch((error) => {
  console.error('worker failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
