import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
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
import { markedRoles } from '../../engine/statements';
import { apiCaller, type Call } from '../support/http';
import {
  ADMIN_URL,
  adminQuery,
  createTargetDatabase,
  roleExists,
  uniqueName,
  type TargetDatabase,
} from '../support/postgres';
import { waitFor } from '../support/wait';

/**
 * Two APIs and two workers, started at the same moment as a rollout starts replicas, against one Temporal
 * server and one store that does not exist yet: creating and migrating it is safe under concurrent starts,
 * leases go through either API, a worker SIGKILLed mid-stream leaves every lease expiring all the same,
 * and an API told to stop finishes the requests it has taken.
 */
let dataDir: string;
let target: TargetDatabase;
let configs: ProductConfig[];
let apis: ProductProcess[] = [];
let workers: ProductProcess[] = [];
let calls: Call[];
let engine: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-scale-'));
  target = await createTargetDatabase({ withGrantOption: true });
  const base = await newProductConfig('scl', inject('temporalAddress'), dataDir);
  configs = [base, { ...base, port: await freePort() }];
  // All four at once, on a store database nobody has created.
  [apis, workers] = await Promise.all([
    Promise.all(configs.map(startApiProcess)),
    Promise.all([startWorkerProcess(base), startWorkerProcess(base)]),
  ]);
  calls = configs.map((c) => apiCaller(`http://127.0.0.1:${c.port}`, c.rootToken));
}, 180_000);

afterAll(async () => {
  await Promise.all([...apis, ...workers].map((p) => stopProcess(p, 'SIGKILL')));
  if (configs) await dropDatabaseAndRoles([databaseName(configs[0]!.databaseUrl)], []);
  await target?.drop();
  // The last test's leases outlive the suite's Temporal: their users go by the engine in their marker.
  if (engine) {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      for (const { username, marker } of await markedRoles(admin))
        if (marker.engine === engine) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(username)}`);
    } finally {
      await admin.end();
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('two APIs and two workers', () => {
  it('start together on one new store, and both APIs serve it', async () => {
    for (const p of [...apis, ...workers]) expect(p.child.exitCode, p.tail()).toBeNull();
    const [a, b] = calls as [Call, Call];
    expect((await a('GET', '/v1/sys/ready')).status).toBe(200);
    expect((await b('GET', '/v1/sys/ready')).status).toBe(200);
    engine = uniqueName('scale').replace(/_/g, '-');
    expect(
      (
        await a('PUT', `/v1/secrets/infra/${engine}/root`, {
          data: { username: target.admin, password: target.adminPassword },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await a('POST', '/v1/dynamic/engines', {
          name: engine,
          type: 'database',
          default_ttl: '1h',
          max_ttl: '8h',
          config: {
            plugin: 'postgresql',
            connection_url: target.connectionUrl,
            root_credentials_path: `infra/${engine}/root`,
          },
        })
      ).status,
    ).toBe(201);
    // Written through one API, read through the other.
    expect((await b('POST', `/v1/dynamic/engines/${engine}/roles`, target.guideRole)).status).toBe(200);
  });

  it('issue through either API; a worker SIGKILLed mid-stream leaves every lease expiring all the same', async () => {
    const leases: Array<{ lease_id: string; username: string; expires_at: string }> = [];
    for (let i = 0; i < 16; i++) {
      if (i === 8) await stopProcess(workers[0], 'SIGKILL');
      const minted = await calls[i % 2]!('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl: 6 });
      expect(minted.status, JSON.stringify(minted.body)).toBe(200);
      leases.push({
        lease_id: minted.body.lease_id,
        username: minted.body.data.username,
        expires_at: minted.body.expires_at,
      });
    }
    const store = (id: string) =>
      adminQuery<{ state: string; revoked_at: Date | null }>(
        'SELECT state, revoked_at FROM leases WHERE lease_id = $1',
        [id],
        databaseName(configs[0]!.databaseUrl),
      );
    for (const lease of leases) {
      const [row] = await waitFor(
        () => store(lease.lease_id),
        (rows) => rows[0]?.state === 'expired',
        60_000,
      );
      expect(row!.state).toBe('expired');
      // On time: within the sticky timeout (10 s) and a workflow task of the expiry.
      expect(row!.revoked_at!.getTime() - Date.parse(lease.expires_at)).toBeLessThan(30_000);
      expect(await roleExists(lease.username)).toBe(false);
    }
  }, 120_000);

  it('an API told to stop finishes the requests it has taken', async () => {
    const leaseCount = async () =>
      Number(
        (
          await adminQuery(
            'SELECT count(*) FROM leases WHERE engine = $1',
            [engine],
            databaseName(configs[0]!.databaseUrl),
          )
        )[0]!.count,
      );
    const before = await leaseCount();
    const inFlight = Array.from({ length: 8 }, () =>
      calls[1]!('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl: 60 }).then(
        (r) =>
          r.status === 200
            ? 'answered'
            : r.status === 503 && r.body?.error?.code === 'engine_unavailable'
              ? 'refused: stopping'
              : `HTTP ${r.status}`,
        (error: Error & { cause?: { code?: string } }) => `not taken: ${error.cause?.code ?? error.message}`,
      ),
    );
    await new Promise((r) => setTimeout(r, 30));
    const stopping = stopProcess(apis[1], 'SIGTERM');
    const answers = await Promise.all(inFlight);
    await stopping;
    expect(await apis[1]!.exited, apis[1]!.tail()).toBe(0);
    // Each request was answered, refused in the contract's shape, or not taken at all (refused at connect,
    // or reset before the server read it: the keep-alive race every HTTP server has at shutdown). What
    // shows a request cut off mid-way is a lease issued with no answer: there is none.
    for (const answer of answers)
      expect(answer).toMatch(/^(answered|refused: stopping|not taken: (ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET))$/);
    expect(answers.filter((a) => a === 'answered').length).toBeGreaterThan(0);
    expect(await leaseCount()).toBe(before + answers.filter((a) => a === 'answered').length);
    // The other API goes on serving.
    expect((await calls[0]!('GET', '/v1/sys/ready')).status).toBe(200);
  }, 60_000);
});
