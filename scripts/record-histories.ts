import type { Client } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { buildServer } from '../api/server';
import { connectClient } from '../temporal/connection';
import { openStores, payloadKeyring } from '../store';
import { ensureRootToken } from '../store/bootstrap';
import { migrate } from '../store/db';
import { freePort } from '../test/support/global-setup';
import { apiCaller, type Call } from '../test/support/http';
import { ADMIN_URL, adminQuery, createTargetDatabase, uniqueName, type TargetDatabase } from '../test/support/postgres';
import { REPLAY_TEST_MASTER_KEY } from '../test/replay/test-master-key';
import { createWorker } from '../worker/worker';
import { ensureTemporalCli, startDevServer, stopDevServer } from './temporal-cli';

/**
 * `node --import tsx scripts/record-histories.ts`: runs each path of the workflows for real (a Temporal dev
 * server of its own, Postgres on 127.0.0.1:5432, the product's API and worker sealed with the TEST-ONLY key
 * in test/replay/test-master-key.ts) and saves each run's history as JSON in test/replay/histories/, which
 * test/replay/replay.test.ts replays against the current workflow code.
 *
 * Re-record only to add a path, or after a change made safe for running leases (`patched()`, a new
 * workflow type); never to make a failing replay pass: that failure is a lease that would break in production.
 */
const OUT_DIR = path.join(__dirname, '..', 'test', 'replay', 'histories');
/** `--tag <t>` names the files `<scenario>-<t>.json`, so a new workflow version adds histories beside the old ones. */
const tagIndex = process.argv.indexOf('--tag');
const TAG = tagIndex > 0 ? `-${process.argv[tagIndex + 1]}` : '';
const TASK_QUEUE = 'replay-recording';

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`recording failed: ${message}`);
}

async function expectStatus(call: ReturnType<Call>, status: number, what: string) {
  const response = await call;
  check(response.status === status, `${what}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

/** The recorded paths: each names its file and returns the workflow id it ran. */
function scenarios(
  call: Call,
  temporal: Client,
  target: TargetDatabase,
  engine: string,
): Record<string, () => Promise<string>> {
  const creds = (role: string, body: Record<string, unknown> = {}) =>
    expectStatus(call('POST', `/v1/dynamic/engines/${engine}/creds/${role}`, body), 200, `mint ${role}`);
  const revoke = (leaseId: string, status: number, query = '') =>
    expectStatus(call('DELETE', `/v1/dynamic/leases/${leaseId}${query}`), status, `revoke ${leaseId}${query}`);
  /** The lease's user owns a schema, so its revocation fails until the schema is gone. */
  const holdRevocation = async (username: string) => {
    const schema = `held_${username}`;
    await adminQuery(`CREATE SCHEMA ${schema} AUTHORIZATION "${username}"`, [], target.name);
    return () => adminQuery(`DROP SCHEMA ${schema}`, [], target.name);
  };
  const until = async (leaseId: string, state: string) => {
    for (let i = 0; i < 300; i++) {
      if ((await call('GET', `/v1/dynamic/leases/${leaseId}`)).body.state === state) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`recording failed: lease ${leaseId} never reached ${state}`);
  };

  return {
    async 'lease-issue-renew-revoke'() {
      const lease = await creds('readonly', { ttl: '1h', metadata: { ticket: 'REPLAY-1' } });
      await expectStatus(call('POST', `/v1/dynamic/leases/${lease.lease_id}/renew`, { increment: '2h' }), 200, 'renew');
      await expectStatus(
        call('POST', `/v1/dynamic/leases/${lease.lease_id}/renew`, {}),
        200,
        'renew by default increment',
      );
      await revoke(lease.lease_id, 204);
      return lease.lease_id;
    },
    async 'lease-issue-expire'() {
      const lease = await creds('readonly', { ttl: 2 });
      await until(lease.lease_id, 'expired');
      return lease.lease_id;
    },
    async 'lease-issue-failure'() {
      // The role grants on a table the admin owns; once the table is gone, its creation statements fail at issue.
      await adminQuery(`CREATE TABLE fragile (id int); ALTER TABLE fragile OWNER TO ${target.admin}`, [], target.name);
      const role = {
        ...target.guideRole,
        name: 'fragile',
        creation_statements: [...target.guideRole.creation_statements, 'GRANT SELECT ON fragile TO "{{name}}"'],
      };
      await expectStatus(call('POST', `/v1/dynamic/engines/${engine}/roles`, role), 200, 'define fragile role');
      await adminQuery('DROP TABLE fragile', [], target.name);
      await expectStatus(call('POST', `/v1/dynamic/engines/${engine}/creds/fragile`, {}), 503, 'mint that fails');
      for (let i = 0; i < 100; i++) {
        for await (const run of temporal.workflow.list({
          query: `ScaiVaultEngine="${engine}" AND ScaiVaultRole="fragile"`,
        }))
          return run.workflowId;
        await new Promise((r) => setTimeout(r, 200)); // visibility catches up
      }
      throw new Error('recording failed: the failed mint has no workflow');
    },
    async 'lease-revocation-failed-then-forced'() {
      const lease = await creds('readonly');
      const release = await holdRevocation(lease.data.username);
      await revoke(lease.lease_id, 202);
      await revoke(lease.lease_id, 204, '?force=true');
      await release();
      await adminQuery(`DROP ROLE IF EXISTS "${lease.data.username}"`);
      return lease.lease_id;
    },
    async 'lease-revocation-failed-then-mended'() {
      const lease = await creds('readonly');
      const release = await holdRevocation(lease.data.username);
      await revoke(lease.lease_id, 202);
      await release(); // the workflow's next try, after its backoff timer, drops the role
      await until(lease.lease_id, 'revoked');
      return lease.lease_id;
    },
    async reconcile() {
      const workflowId = 'reconcile-replay-recording';
      await temporal.workflow.execute('reconcileWorkflow', { taskQueue: TASK_QUEUE, workflowId, args: [] });
      return workflowId;
    },
  };
}

async function main() {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const temporalServer = await startDevServer({ port, headless: true });
  const storeName = uniqueName('sv_replay');
  const databaseUrl = ADMIN_URL.replace(/\/[^/]*$/, `/${storeName}`);
  const masterKeys = [REPLAY_TEST_MASTER_KEY];
  const target = await createTargetDatabase({ withGrantOption: true });
  await migrate(databaseUrl);
  const stores = openStores(databaseUrl, masterKeys, 3);
  const rootToken = `replay-root-${uniqueName('t')}`;
  await ensureRootToken(stores, '/nonexistent', rootToken);
  const temporal = await connectClient(address, 'default', payloadKeyring(masterKeys));
  const { worker, close: closeWorker } = await createWorker({
    stores,
    masterKeys,
    address,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
  });
  const running = worker.run();
  const app = await buildServer({ stores, temporal, taskQueue: TASK_QUEUE, masterKeys, logLevel: 'warn' });
  const call = apiCaller(await app.listen({ host: '127.0.0.1', port: 0 }), rootToken);
  try {
    const engine = 'replay-db';
    const rootPath = `infra/postgres/${engine}/root`;
    await expectStatus(
      call('PUT', `/v1/secrets/${rootPath}`, {
        data: { username: target.admin, password: target.adminPassword },
        secret_type: 'json',
      }),
      200,
      'store root credential',
    );
    await expectStatus(
      call('POST', '/v1/dynamic/engines', {
        name: engine,
        type: 'database',
        default_ttl: '1h',
        max_ttl: '8h',
        config: { plugin: 'postgresql', connection_url: target.connectionUrl, root_credentials_path: rootPath },
      }),
      201,
      'configure engine',
    );
    await expectStatus(call('POST', `/v1/dynamic/engines/${engine}/roles`, target.guideRole), 200, 'define role');

    mkdirSync(OUT_DIR, { recursive: true });
    for (const [name, run] of Object.entries(scenarios(call, temporal, target, engine))) {
      const workflowId = await run();
      const handle = temporal.workflow.getHandle(workflowId);
      await handle.result().catch(() => {}); // every recorded run is complete
      const file = path.join(OUT_DIR, `${name}${TAG}.json`);
      // The history as `temporal workflow show --output json` exports it: the JSON replayers read.
      const history = execFileSync(
        ensureTemporalCli(),
        ['workflow', 'show', '--workflow-id', workflowId, '--address', address, '--output', 'json'],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      writeFileSync(file, JSON.stringify(JSON.parse(history.toString()), null, 1) + '\n');
      console.log(`recorded ${path.relative(process.cwd(), file)}`);
    }
  } finally {
    const { rows } = await stores.db.query<{ username: string }>('SELECT username FROM leases');
    await app.close();
    worker.shutdown();
    await running.catch(() => {});
    await closeWorker();
    await temporal.connection.close();
    await stores.close();
    await target.drop(rows.map((r) => r.username));
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${storeName} WITH (FORCE)`);
    await admin.end();
    await stopDevServer(temporalServer);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
