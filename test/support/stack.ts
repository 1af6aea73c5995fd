import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { buildServer } from '../../api/server';
import { parseReceiverAllowList } from '../../lib/receiver-address';
import { connectClient } from '../../temporal/connection';
import { openStores, payloadKeyring, type Stores } from '../../store';
import { ensureRootToken } from '../../store/bootstrap';
import { migrate } from '../../store/db';
import { createWorker } from '../../worker/worker';
import { apiCaller, type Call } from './http';
import { ADMIN_URL, uniqueName } from './postgres';

export interface Stack {
  baseUrl: string;
  rootToken: string;
  stores: Stores;
  databaseUrl: string;
  masterKey: string;
  masterKeys: Buffer[];
  taskQueue: string;
  temporalAddress: string;
  temporal: Awaited<ReturnType<typeof connectClient>>;
  /** Calls the API as root (or with the given token). */
  call: Call;
  /** Has the API checkpoint the audit chain's head into Temporal now. */
  checkpointAudit(): Promise<void>;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The product wired as `npm start` wires it, against the suite's Temporal dev server and a fresh store
 * database of its own, with its own task queue so test files never pick up each other's tasks.
 */
export async function startStack(
  options: { worker?: boolean; workerWaitMs?: number; appRole?: string } = {},
): Promise<Stack> {
  const temporalAddress = inject('temporalAddress');
  const storeName = uniqueName('sv_store');
  const ownerUrl = ADMIN_URL.replace(/\/[^/]*$/, `/${storeName}`);
  const masterKeyBytes = randomBytes(32);
  const masterKeys = [masterKeyBytes];
  await migrate(ownerUrl);
  const databaseUrl = options.appRole ? await leastPrivilegeUrl(ownerUrl, options.appRole) : ownerUrl;
  const stores = openStores(databaseUrl, masterKeys, 5);
  const rootToken = `test-root-${randomBytes(16).toString('hex')}`;
  await ensureRootToken(stores, '/nonexistent', rootToken);
  const taskQueue = uniqueName('tq');
  const temporal = await connectClient(temporalAddress, 'default', payloadKeyring(masterKeys));
  const app = await buildServer({
    stores,
    temporal,
    taskQueue,
    masterKeys,
    logLevel: 'silent',
    workerWaitMs: options.workerWaitMs,
  });
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });

  let worker: Awaited<ReturnType<typeof createWorker>> | undefined;
  let running: Promise<void> | undefined;
  const bundle = { code: readFileSync(inject('workflowBundlePath'), 'utf8') };

  const stack: Stack = {
    baseUrl,
    rootToken,
    stores,
    databaseUrl,
    masterKey: masterKeyBytes.toString('base64'),
    masterKeys,
    taskQueue,
    temporalAddress,
    temporal,
    call: apiCaller(baseUrl, rootToken),
    checkpointAudit: () => app.auditCheckpoints.write(),
    async startWorker() {
      // The suite's webhook receivers listen on loopback.
      worker = await createWorker({
        stores,
        masterKeys,
        address: temporalAddress,
        namespace: 'default',
        taskQueue,
        workflowBundle: bundle,
        publicUrl: baseUrl,
        webhookAllowPrivate: parseReceiverAllowList('127.0.0.0/8'),
      });
      running = worker.worker.run();
    },
    async stopWorker() {
      if (!worker) return;
      worker.worker.shutdown();
      await running;
      await worker.close();
      worker = undefined;
    },
    async stop() {
      await stack.stopWorker();
      await app.close();
      await temporal.connection.close();
      await stores.close();
      const admin = new pg.Client({ connectionString: ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${storeName} WITH (FORCE)`);
      if (options.appRole) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(options.appRole)}`);
      await admin.end();
    },
  };
  if (options.worker !== false) await stack.startWorker();
  return stack;
}

/**
 * The store as the README's least-privilege set-up leaves it: `appRole` logs in and holds what
 * store/least-privilege.sql grants it, applied with psql as the owner; the URL the product then uses.
 */
async function leastPrivilegeUrl(ownerUrl: string, appRole: string): Promise<string> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(
    `CREATE ROLE ${pg.escapeIdentifier(appRole)} LOGIN PASSWORD ${pg.escapeLiteral(randomBytes(12).toString('hex'))}`,
  );
  await admin.end();
  execFileSync(
    'psql',
    [
      ownerUrl,
      '-v',
      'ON_ERROR_STOP=1',
      '-v',
      `app_role=${appRole}`,
      '-q',
      '-f',
      path.join(__dirname, '..', '..', 'store', 'least-privilege.sql'),
    ],
    { stdio: 'pipe' },
  );
  const url = new URL(ownerUrl);
  url.username = appRole;
  return url.toString();
}
