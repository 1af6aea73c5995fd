import { readFileSync } from 'node:fs';
import { loadConfig } from '../lib/config';
import { announceReady, stopWithParent } from '../lib/supervised';
import { createLogger } from '../lib/logger';
import { connectClient } from '../temporal/connection';
import { payloadKeyring } from '../store';
import { ensureRootToken } from '../store/bootstrap';
import { openMigratedStore } from '../store/open';
import { codecUiOrigins } from './codec-session';
import { buildServer } from './server';

/** `npm run api`: the REST API on its own. */
async function main() {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'api');
  const { stores, masterKeys } = await openMigratedStore(config);
  const root = await ensureRootToken(stores, config.dataDir, config.devRootToken);
  if (root.created) log.info({ file: root.file }, 'created the root token; it is in this file (mode 0600)');
  const temporal = await connectClient(
    config.temporal.address,
    config.temporal.namespace,
    payloadKeyring(masterKeys),
    config.temporal.transport,
  );
  const app = await buildServer({
    stores,
    temporal,
    taskQueue: config.temporal.taskQueue,
    logLevel: config.logLevel,
    logger: log,
    masterKeys,
    codecUiOrigins: codecUiOrigins(config.temporal.uiPort),
    tokenCacheMs: config.tokenCacheMs,
    trustProxy: config.trustProxy,
    auditCheckpointMs: config.auditCheckpointMs,
    https: config.tls && { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
  });
  await app.listen({ host: config.host, port: config.port });
  const stop = async () => {
    // In-flight requests finish, each answered with Connection: close (api/server.ts), so no kept-alive
    // connection outlives its last request.
    await app.close();
    await temporal.connection.close();
    await stores.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  stopWithParent(stop);
  announceReady();
}

main().catch((error) => {
  console.error('api failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
