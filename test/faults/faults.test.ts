import { Client, Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  databaseName,
  dropDatabaseAndRoles,
  freePort,
  newProductConfig,
  startApiProcess,
  startWorkerProcess,
  stopProcess,
  type ProductConfig,
  type ProductProcess,
} from '../../bench/lib/processes';
import type { Answer } from '../support/http';
import { adminQuery, createTargetDatabase, uniqueName, type TargetDatabase } from '../support/postgres';
import { dataConverter } from '../../temporal/connection';
import { startDevServer } from '../../scripts/temporal-cli';
import { payloadKeyring } from '../../store';

/**
 * Fault injection against the product as it runs in production: API and worker as their own processes,
 * a Temporal dev server that persists its state, the real Postgres. While mints, renews, revokes, secret
 * reads and writes and rotations run, the worker is SIGKILLed (also in the middle of a rotation and of a
 * renew storm), Postgres is restarted (also under audit-heavy load) and Temporal is restarted. Afterwards,
 * and after the reconciler has run: every lease the API acknowledged is active with a role that logs in,
 * or finished with its role gone; no role of this product's prefix exists without a live lease; no lease
 * is lost; every rotation has ended and the secret has one current version; no event is audited twice;
 * and the audit chain verifies.
 *
 * It restarts the shared Postgres, so it runs alone, after every other test file (vitest.config.mts).
 */
const LOAD_SECONDS = 60;
/** Faults every run injects, however long the machine takes to recover from each. */
const MIN_FAULTS = 6;
const SETTLE_TIMEOUT_MS = 75_000;

let dataDir: string;
let temporalPort: number;
let temporal: ChildProcess | undefined;
let target: TargetDatabase;
let group: string;
let config: ProductConfig;
let api: ProductProcess | undefined;
let worker: ProductProcess | undefined;
/**
 * A call that gives up after 45 s: a request that hangs is counted (status -1; no answer at all is 0), never
 * waited on forever.
 */
let call: (method: string, path: string, body?: unknown) => Promise<Answer>;
const CALL_TIMEOUT_MS = 45_000;
let engine: string;
let role: string;
/** A secret the load rotates (and confirms, or lets expire) while the faults strike. */
const ROTATED = 'app/faults/db';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const startTemporal = () =>
  startDevServer({ port: temporalPort, headless: true, dbFile: path.join(dataDir, 'temporal.db') });
const pgCluster = () => readdirSync('/etc/postgresql')[0]!;

async function postgresReady(timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await adminQuery('SELECT 1').then(
        () => true,
        () => false,
      )
    )
      return;
    await sleep(200);
  }
  throw new Error('Postgres did not come back');
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-faults-'));
  temporalPort = await freePort();
  [temporal, target] = await Promise.all([startTemporal(), createTargetDatabase()]);
  // The group-role shape (field notes): leases run in parallel, grants come from the group.
  group = `${target.name}_readers`;
  await adminQuery(`CREATE ROLE ${group} NOLOGIN`);
  await adminQuery(`GRANT CONNECT ON DATABASE ${target.name} TO ${group}`);
  await adminQuery(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${group}`, [], target.name);
  config = await newProductConfig('flt', `127.0.0.1:${temporalPort}`, dataDir);
  api = await startApiProcess(config);
  worker = await startWorkerProcess(config);
  call = async (method, p, body) => {
    const response = await fetch(`http://127.0.0.1:${config.port}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${config.rootToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  engine = uniqueName('flt').replace(/_/g, '-');
  role = uniqueName('flt').replace(/_/g, '');
  const rootPath = `infra/postgres/${engine}/root`;
  const setup: [string, string, unknown][] = [
    [
      'PUT',
      `/v1/secrets/${rootPath}`,
      { data: { username: target.admin, password: target.adminPassword }, secret_type: 'json' },
    ],
    [
      'POST',
      '/v1/dynamic/engines',
      {
        name: engine,
        type: 'database',
        default_ttl: '1h',
        max_ttl: '8h',
        config: { plugin: 'postgresql', connection_url: target.connectionUrl, root_credentials_path: rootPath },
      },
    ],
    [
      'POST',
      `/v1/dynamic/engines/${engine}/roles`,
      {
        name: role,
        default_ttl: '10m',
        max_ttl: '1h',
        creation_statements: [
          `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ${group}`,
        ],
        revocation_statements: ['DROP ROLE IF EXISTS "{{name}}"'],
      },
    ],
    ['PUT', `/v1/secrets/${ROTATED}`, { data: { username: 'svc', password: 'first-value' }, secret_type: 'json' }],
    [
      'POST',
      '/v1/rotation/policies',
      {
        id: 'rot_faults',
        name: 'faults',
        interval: '1h',
        grace_period: '3s',
        auto_generate: true,
        secret_policy_id: 'sp_db_passwords',
      },
    ],
    ['POST', '/v1/rotation/policies/rot_faults/secrets', { secret_path: ROTATED }],
  ];
  for (const [method, p, body] of setup) {
    const { status, body: answer } = await call(method, p, body);
    expect(status, `${method} ${p}: ${JSON.stringify(answer)}`).toBeLessThan(300);
  }
}, 180_000);

afterAll(async () => {
  await postgresReady().catch(() => {});
  await stopProcess(api);
  await stopProcess(worker, 'SIGKILL');
  temporal?.kill('SIGKILL');
  if (target) {
    await target.drop();
    await dropDatabaseAndRoles([databaseName(config.databaseUrl)], [`v_${role}_`]);
    await adminQuery(`DROP ROLE IF EXISTS ${group}`).catch(() => {});
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

/** A lease the API acknowledged with a 200, and what the API said about it since. */
interface Acknowledged {
  leaseId: string;
  username: string;
  password: string;
  /** The API answered 204 to a revoke: the role was gone at that moment. */
  revoked: boolean;
}

describe('fault injection', () => {
  it('keeps every acknowledged lease through worker SIGKILLs and Postgres and Temporal restarts', async () => {
    const leases: Acknowledged[] = [];
    const statuses = new Map<string, number>();
    const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
    const mint = async () => {
      // Short leases expire during the run, so expiry meets the faults too.
      const ttl = Math.random() < 0.4 ? 4 + Math.floor(Math.random() * 12) : 600;
      const { status, body } = await call('POST', `/v1/dynamic/engines/${engine}/creds/${role}`, { ttl }).catch(
        failedCall,
      );
      count(`mint ${status}`);
      if (status === 200)
        leases.push({
          leaseId: body.lease_id,
          username: body.data.username,
          password: body.data.password,
          revoked: false,
        });
      return status === 200;
    };
    const pick = () => leases[Math.floor(Math.random() * leases.length)];
    const renew = async () => {
      const lease = pick();
      if (!lease) return;
      const { status } = await call('POST', `/v1/dynamic/leases/${lease.leaseId}/renew`, { increment: '15m' }).catch(
        failedCall,
      );
      count(`renew ${status}`);
    };
    const revoke = async () => {
      const lease = pick();
      if (!lease) return;
      const { status } = await call('DELETE', `/v1/dynamic/leases/${lease.leaseId}`).catch(failedCall);
      count(`revoke ${status}`);
      if (status === 204) lease.revoked = true;
    };

    /** A rotation now; confirmed a moment later, or (one in three) left to expire. */
    const rotate = async () => {
      const { status, body } = await call('POST', `/v1/rotation/secrets/${ROTATED}/rotate`).catch(failedCall);
      count(`rotate ${status}`);
      if (status !== 202 || Math.random() < 0.33) return;
      await sleep(Math.random() * 1000);
      const confirmed = await call('POST', `/v1/rotation/rotations/${body.rotation_id}/confirm`).catch(failedCall);
      count(`confirm ${confirmed.status}`);
    };
    /** Secret reads and writes: an audit entry each. */
    const touchSecret = async () => {
      const write = Math.random() < 0.3;
      const { status } = await (
        write
          ? call('PUT', `/v1/secrets/app/faults/s${Math.floor(Math.random() * 5)}`, { data: { at: Date.now() } })
          : call('GET', `/v1/secrets/${ROTATED}`)
      ).catch(failedCall);
      count(`secret ${write ? 'write' : 'read'} ${status}`);
    };

    let running = true;
    const loadLoop = async () => {
      while (running) {
        const r = Math.random();
        await (r < 0.4 ? mint() : r < 0.6 ? renew() : r < 0.75 ? revoke() : r < 0.9 ? touchSecret() : rotate());
        await sleep(20);
      }
    };

    // The faults, in a random order at random moments; each counts as survived once a mint succeeds after it.
    const faults: [string, () => Promise<void>][] = [
      [
        'worker SIGKILL',
        async () => {
          await stopProcess(worker, 'SIGKILL');
          await sleep(500 + Math.random() * 2000);
          worker = await startWorkerProcess(config);
        },
      ],
      [
        'Postgres restart',
        async () => {
          // A burst just before, so many store and target transactions hold connections when the server goes.
          const burst = Array.from({ length: 12 }, () => mint());
          await sleep(40);
          execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', pgCluster(), 'main', 'stop', '-m', 'fast'], {
            stdio: 'ignore',
            timeout: 60_000,
          });
          // While it is down the API is alive but not ready.
          const probe = async (route: string) => await call('GET', route).catch(failedCall);
          const [ready, alive] = [await probe('/v1/sys/ready'), await probe('/v1/sys/health')];
          probes.push(`ready ${ready.status} ${ready.body?.database}; health ${alive.status} ${alive.body?.database}`);
          execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', pgCluster(), 'main', 'start'], {
            stdio: 'ignore',
            timeout: 60_000,
          });
          await postgresReady();
          await Promise.all(burst);
        },
      ],
      [
        'Temporal restart',
        async () => {
          temporal!.kill('SIGTERM');
          await new Promise((r) =>
            temporal!.exitCode !== null || temporal!.signalCode !== null ? r(null) : temporal!.once('exit', r),
          );
          temporal = await startTemporal();
        },
      ],
    ];
    const pointed: [string, () => Promise<void>][] = [
      [
        'worker SIGKILL mid-rotation',
        async () => {
          const rotating = rotate();
          await sleep(Math.random() * 300);
          await stopProcess(worker, 'SIGKILL');
          await sleep(500 + Math.random() * 1500);
          worker = await startWorkerProcess(config);
          await rotating;
        },
      ],
      [
        'worker SIGKILL mid-renew-storm',
        async () => {
          const lease = leases.find((l) => !l.revoked);
          const storm = lease
            ? Array.from({ length: 25 }, async () => {
                const { status } = await call('POST', `/v1/dynamic/leases/${lease.leaseId}/renew`, {
                  increment: '20m',
                }).catch(failedCall);
                count(`storm renew ${status}`);
              })
            : [];
          await sleep(30 + Math.random() * 100);
          await stopProcess(worker, 'SIGKILL');
          await sleep(500 + Math.random() * 1500);
          worker = await startWorkerProcess(config);
          await Promise.all(storm);
        },
      ],
      [
        'Postgres restart under audit-heavy load',
        async () => {
          const burst = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? mint() : touchSecret()));
          await sleep(30);
          execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', pgCluster(), 'main', 'restart'], {
            stdio: 'ignore',
            timeout: 60_000,
          });
          await postgresReady();
          await Promise.all(burst);
        },
      ],
    ];
    const schedule = [...faults, ...pointed, ...faults].sort(() => Math.random() - 0.5);
    const injected: string[] = [];
    /** What /v1/sys/ready and /v1/sys/health said while Postgres was down. */
    const probes: string[] = [];
    let survived = 0;
    const loops = [loadLoop(), loadLoop(), loadLoop()];
    const deadline = Date.now() + LOAD_SECONDS * 1000;
    const t0 = Date.now();
    const note = (line: string) => console.log(`[faults ${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}`);
    for (const [name, inject] of schedule) {
      if (Date.now() > deadline && injected.length >= MIN_FAULTS) break;
      await sleep(1500 + Math.random() * 3000);
      note(`injecting: ${name}`);
      await inject();
      injected.push(name);
      const recovered = Date.now() + 45_000;
      while (Date.now() < recovered && !(await mint()) && !died()) await sleep(250);
      const ok = Date.now() < recovered && !died();
      if (ok) survived++;
      note(
        `${name}: ${ok ? 'a mint succeeded again' : (died() ?? 'NO successful mint within 45 s')}; ` +
          `${leases.length} leases acknowledged so far`,
      );
      if (died()) break;
    }
    running = false;
    await Promise.all(loops);
    note('load stopped');
    // The product's processes must outlive every fault: a crash is the finding, with its last words.
    expect(died(), died()).toBeUndefined();
    const summary =
      `faults injected: ${injected.length} (${injected.join(', ')}); survived: ${survived}; ` +
      `acknowledged leases: ${leases.length}; responses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`;
    console.log(summary);
    expect(survived, summary).toBe(injected.length);
    expect(injected.length).toBeGreaterThanOrEqual(MIN_FAULTS);
    if (injected.includes('Postgres restart')) expect(probes[0]).toBe('ready 503 unavailable; health 200 unavailable');

    // Settle: every acknowledged lease reaches a state that can be checked (active or finished), its role
    // exists exactly when it is active, and every role with this role's prefix belongs to a live lease.
    const temporalConnection = await Connection.connect({ address: config.temporalAddress });
    const temporalClient = new Client({
      connection: temporalConnection,
      dataConverter: dataConverter(payloadKeyring([Buffer.from(config.masterKey, 'base64')])),
    });
    let problems: string[];
    try {
      // The reconciler's sweep, run now rather than on its ten-minute schedule.
      await temporalClient.workflow.execute('reconcileWorkflow', {
        taskQueue: config.taskQueue,
        workflowId: `reconcile-faults-${Date.now()}`,
        workflowExecutionTimeout: '2m',
      });
      const settleBy = Date.now() + SETTLE_TIMEOUT_MS;
      do {
        problems = [...(await invariantViolations(leases, temporalClient)), ...(await evidenceViolations())];
        if (problems.length === 0) break;
        await sleep(1000);
      } while (Date.now() < settleBy);
    } finally {
      await temporalConnection.close();
    }
    expect(problems, `${summary}\n${problems.slice(0, 20).join('\n')}`).toEqual([]);
    console.log(`invariant holds for ${leases.length} acknowledged leases after ${injected.length} faults`);
  }, 420_000);
});

/** Which of the product's processes exited by itself (not killed by the test), with its last output. */
function died(): string | undefined {
  for (const [name, proc] of [
    ['api', api],
    ['worker', worker],
  ] as const) {
    if (proc && proc.child.exitCode !== null)
      return (
        `the ${name} process exited with code ${proc.child.exitCode}:\n` +
        `${proc.tail().split('\n').slice(-15).join('\n')}`
      );
  }
  return undefined;
}

/** Everything that breaks the invariant right now (empty once the product has settled). */
async function invariantViolations(leases: Acknowledged[], temporalClient: Client): Promise<string[]> {
  const problems: string[] = [];
  const store = new pg.Client({ connectionString: config.databaseUrl });
  await store.connect();
  let rows: { lease_id: string; username: string; state: string; expires_at: Date }[];
  try {
    rows = (await store.query('SELECT lease_id, username, state, expires_at FROM leases WHERE role = $1', [role])).rows;
  } finally {
    await store.end();
  }
  const byId = new Map(rows.map((r) => [r.lease_id, r]));
  const roles = new Set(
    (
      await adminQuery<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [
        `v_${role}_`,
      ])
    ).map((r) => r.rolname),
  );

  for (const lease of leases) {
    const row = byId.get(lease.leaseId);
    if (!row) {
      problems.push(`lost: acknowledged lease ${lease.leaseId} (${lease.username}) has no lease row`);
      continue;
    }
    const finished = row.state === 'revoked' || row.state === 'expired';
    if (lease.revoked && row.state !== 'revoked' && row.state !== 'expired')
      problems.push(`${lease.leaseId}: revoke answered 204 but the lease is ${row.state}`);
    if (finished && roles.has(lease.username))
      problems.push(`${lease.leaseId}: ${row.state} but role ${lease.username} exists`);
    if (!finished && row.state !== 'active') problems.push(`${lease.leaseId}: still ${row.state}`);
    if (row.state === 'active') {
      if (!roles.has(lease.username)) problems.push(`${lease.leaseId}: active but role ${lease.username} is gone`);
      const status = await temporalClient.workflow
        .getHandle(lease.leaseId)
        .describe()
        .then(
          (d) => d.status.name,
          (e: Error) => `unknown (${e.message})`,
        );
      if (status !== 'RUNNING')
        problems.push(`${lease.leaseId}: active but its workflow is ${status}: nothing will ever expire it`);
      // A lease about to expire may be dropped between the check and the login; those are checked once finished.
      if (row.expires_at.getTime() - Date.now() > 5_000) {
        const login = await loginError(lease);
        if (login) problems.push(`${lease.leaseId}: active but ${lease.username} cannot log in: ${login}`);
      }
    }
  }
  const live = new Set(rows.filter((r) => r.state === 'active').map((r) => r.username));
  for (const name of roles) if (!live.has(name)) problems.push(`stranded: role ${name} exists without a live lease`);
  return problems;
}

/**
 * What breaks the rotation and audit invariants: a rotation that never ends, two current versions, an event
 * audited twice, a broken chain.
 */
async function evidenceViolations(): Promise<string[]> {
  const problems: string[] = [];
  const store = new pg.Client({ connectionString: config.databaseUrl });
  await store.connect();
  try {
    const unfinished = (
      await store.query(`SELECT rotation_id, state FROM rotations WHERE state IN ('pending', 'confirmed')`)
    ).rows;
    for (const r of unfinished) problems.push(`rotation ${r.rotation_id} is still ${r.state}`);
    const current = Number(
      (
        await store.query(`SELECT count(*) FROM secrets WHERE path = $1 AND state = 'current' AND deleted_at IS NULL`, [
          ROTATED,
        ])
      ).rows[0].count,
    );
    if (current !== 1) problems.push(`${ROTATED} has ${current} current versions`);
    const twice = (
      await store.query(
        `
      SELECT action, coalesce(extra_data->>'rotation_id', extra_data->>'lease_id') AS subject, ` +
          `count(*)::int AS n FROM audit_log
      WHERE result = 'success' AND action IN ('dynamic_generate', 'dynamic_expire', 'rotation_start', ` +
          `'rotation_confirm', 'rotation_expire', 'rotation_complete')
      GROUP BY 1, 2 HAVING count(*) > 1`,
      )
    ).rows;
    for (const r of twice) problems.push(`audited ${r.n} times: ${r.action} of ${r.subject}`);
  } finally {
    await store.end();
  }
  const verdict = await call('GET', '/v1/audit/verify').catch(failedCall);
  if (verdict.status !== 200 || !verdict.body?.valid)
    problems.push(`audit verify: ${verdict.status} ${JSON.stringify(verdict.body)}`);
  return problems;
}

function failedCall(error: Error): Answer {
  return { status: error.name === 'TimeoutError' ? -1 : 0, body: undefined };
}

async function loginError(lease: Acknowledged): Promise<string | undefined> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: 5432,
    database: target.name,
    user: lease.username,
    password: lease.password,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT count(*) FROM orders');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}
