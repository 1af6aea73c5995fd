import type { Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { codecUiOrigins } from '../api/codec-session';
import { buildServer } from '../api/server';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { ensureReconcileSchedule } from '../lib/schedules';
import { connectClient, ensureSearchAttributes } from '../lib/temporal';
import { payloadKeyring } from '../store';
import { ensureRootToken } from '../store/bootstrap';
import { openMigratedStore } from '../store/open';
import { createWorker } from '../worker/worker';
import { portOpen, startDevServer, stopDevServer } from './temporal-cli';

/**
 * `npm start`: the whole product in one process on its embedded default. A Temporal dev server (state
 * kept in the data dir, so leases survive a restart), migrations, the worker and the API.
 */
async function main() {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'dev-stack');
  const apiUrl = `http://${config.host}:${config.port}`;
  let temporalServer: ChildProcess | undefined;

  if (!config.temporal.external) {
    if (await portOpen(config.temporal.port)) {
      log.info({ port: config.temporal.port }, 'a Temporal server already listens on this port; reusing it');
    } else {
      temporalServer = await startDevServer(
        {
          port: config.temporal.port,
          uiPort: config.temporal.uiPort,
          dbFile: path.join(config.dataDir, 'temporal.db'),
          codecEndpoint: `${apiUrl}/v1/sys/codec`,
        },
        (line) => log.info(line),
      );
    }
  }

  const { stores, masterKeys } = await openMigratedStore(config);
  const root = await ensureRootToken(stores, config.dataDir, config.devRootToken);
  const { worker, close: closeWorker } = await createWorker({ stores, masterKeys, ...config.temporal });
  const workerRun = worker.run();
  const temporal = await connectClient(config.temporal.address, config.temporal.namespace, payloadKeyring(masterKeys));
  await ensureSearchAttributes(temporal.connection as Connection, config.temporal.namespace);
  await ensureReconcileSchedule(temporal, config.temporal.taskQueue);
  const app = await buildServer({
    stores, temporal, taskQueue: config.temporal.taskQueue, logLevel: config.logLevel,
    masterKeys, codecUiOrigins: codecUiOrigins(config.temporal.uiPort),
  });
  await app.listen({ host: config.host, port: config.port });

  const uiUrl = config.temporal.external ? '(external Temporal: see its own Web UI)' : `http://127.0.0.1:${config.temporal.uiPort}`;
  process.stdout.write(
    [
      '',
      'ScaiVault is running.',
      `  API:             ${apiUrl}`,
      `  Temporal Web UI: ${uiUrl}`,
      `  Root token:      ${root.token ?? `(created earlier; it is in ${root.file})`}${root.created ? `  (shown once; also in ${root.file}, mode 0600)` : ''}`,
      '',
      'Try it:',
      `  export SCAIVAULT_ADDR=${apiUrl} SCAIVAULT_TOKEN=${config.devRootToken ? config.devRootToken : `$(cat ${root.file})`}`,
      '  curl -s $SCAIVAULT_ADDR/v1/sys/health',
      '  curl -s -H "Authorization: Bearer $SCAIVAULT_TOKEN" $SCAIVAULT_ADDR/v1/dynamic/leases',
      '  The guide (shared/spec) works with its base URL replaced by $SCAIVAULT_ADDR. Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.info('stopping');
    await app.close();
    // The SDK runtime drains the worker on SIGINT/SIGTERM by itself; shut it down only if it has not begun.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun.catch(() => {});
    await closeWorker();
    await temporal.connection.close();
    await stores.close();
    if (temporalServer) await stopDevServer(temporalServer);
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('exit', () => temporalServer?.kill('SIGTERM'));
}

main().catch((error) => {
  console.error('npm start failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
