import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../lib/payload-codec';
import { hashToken } from '../../lib/random';
import { ensureRootToken } from '../../store/bootstrap';
import { ensureTemporalCli } from '../../scripts/temporal-cli';
import { payloadKeyring } from '../../store';
import { grant, mintToken } from '../support/auth';
import { startFakePostgres } from '../support/fake-postgres';
import { configureGuideEngine, withGuideStack } from '../support/guide';
import { adminQuery, roleExists, uniqueName, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * The attack table: each hole tried the way an attacker would, asserting the refusal, its audit entry,
 * and that nothing leaked or ran.
 */
let stack: Stack;
let target: TargetDatabase;
let engine: string;
let rootPath: string;
withGuideStack({ withGrantOption: true }, (c) => ({ stack, target, engine, rootPath } = c));

const execFileAsync = promisify(execFile);

const authFailures = async (identity: string) =>
  (await stack.call('GET', `/v1/audit?action=auth_fail&identity_id=${encodeURIComponent(identity)}`)).body
    .logs as Array<{ path: string; extra_data: Record<string, unknown> }>;

describe('an engine operator cannot obtain the root password', () => {
  let fake: Awaited<ReturnType<typeof startFakePostgres>>;
  let operator: string;
  const identity = 'user:engine-operator';
  beforeAll(async () => {
    fake = await startFakePostgres();
    await grant(
      stack,
      uniqueName('operators'),
      [
        { path_pattern: `dynamic/${engine}/config`, permissions: ['read', 'write'] },
        { path_pattern: 'dynamic/engines', permissions: ['write', 'list'] },
      ],
      identity,
    );
    operator = (await mintToken(stack, identity, ['dynamic:manage'])).token;
  });
  afterAll(() => fake?.close());

  const evil = () => ({
    userinfo: `postgresql://{{username}}:{{password}}@127.0.0.1:${fake.port}/reporting?sslmode=disable`,
    inDatabaseName: `postgresql://{{username}}@127.0.0.1:${fake.port}/{{password}}?sslmode=disable`,
    inQuery: `postgresql://{{username}}@127.0.0.1:${fake.port}/reporting?sslmode=disable&application_name={{password}}`,
  });

  it.each(['userinfo', 'inDatabaseName', 'inQuery'] as const)(
    'PATCH connection_url to a server of their own (%s): 403, audited, nothing sent',
    async (form) => {
      const before = (await authFailures(identity)).length;
      const response = await stack.call(
        'PATCH',
        `/v1/dynamic/engines/${engine}`,
        { config: { connection_url: evil()[form] } },
        operator,
      );
      expect(response.status, JSON.stringify(response.body)).toBe(403);
      expect(response.body.error.code).toBe('forbidden');
      expect(fake.received()).not.toContain(target.adminPassword);
      expect(fake.received()).toBe('');
      const failures = await authFailures(identity);
      expect(failures.length).toBe(before + 1);
      expect(failures[0]!.extra_data).toMatchObject({ root_credentials_path: rootPath, status: 403 });
      // The engine is unchanged.
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}`)).body.config.connection_url).toBe(
        target.connectionUrl,
      );
    },
  );

  it('POST a new engine naming the existing root credential: 403, audited, nothing sent', async () => {
    const name = uniqueName('stolen').replace(/_/g, '-');
    const response = await stack.call(
      'POST',
      '/v1/dynamic/engines',
      {
        name,
        type: 'database',
        default_ttl: '1h',
        max_ttl: '2h',
        config: { plugin: 'postgresql', connection_url: evil().userinfo, root_credentials_path: rootPath },
      },
      operator,
    );
    expect(response.status, JSON.stringify(response.body)).toBe(403);
    expect(fake.received()).toBe('');
    expect((await stack.call('GET', `/v1/dynamic/engines/${name}`)).status).toBe(404);
    expect((await authFailures(identity))[0]!.path).toBe(`dynamic/engines/${name}`);
  });

  it('PATCH root_credentials_path to another secret: 403', async () => {
    const response = await stack.call(
      'PATCH',
      `/v1/dynamic/engines/${engine}`,
      { config: { root_credentials_path: 'infra/other/root' } },
      operator,
    );
    expect(response.status).toBe(403);
  });

  it('may still change what does not move the credential (TTLs)', async () => {
    const response = await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, { default_ttl: '1h' }, operator);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  });

  it('not even an admin can put the password outside the userinfo: 400, nothing sent', async () => {
    for (const form of ['inDatabaseName', 'inQuery'] as const) {
      const response = await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, {
        config: { connection_url: evil()[form] },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.body.error.code).toBe('invalid_config');
    }
    expect(fake.received()).toBe('');
  });
});

describe('the worker runs only input the product sealed', () => {
  it(
    'a lease workflow started with plain JSON through the Temporal frontend fails its task; no SQL runs; ' + 'audited',
    async () => {
      const victim = uniqueName('v_attacker');
      const workflowId = uniqueName('dlease_forged');
      const spec = {
        leaseId: workflowId,
        engine,
        role: 'readonly',
        username: victim,
        identityId: 'svc:attacker',
        metadata: {},
        ttlSeconds: 3600,
        maxTtlSeconds: 3600,
        defaultIncrementSeconds: 3600,
        statements: {
          creation: [`CREATE ROLE "${victim}" LOGIN SUPERUSER PASSWORD 'owned'`],
          renew: [],
          revocation: [],
        },
      };
      await execFileAsync(
        ensureTemporalCli(),
        [
          'workflow',
          'start',
          '--address',
          stack.temporalAddress,
          '--task-queue',
          stack.taskQueue,
          '--type',
          'leaseWorkflowV2',
          '--workflow-id',
          workflowId,
          '--input',
          JSON.stringify({ spec }),
        ],
        { timeout: 30_000 },
      );

      const handle = stack.temporal.workflow.getHandle(workflowId);
      const taskFailure = await waitFor(
        async () => {
          const history = await handle.fetchHistory();
          return history.events?.find((e) => e.workflowTaskFailedEventAttributes);
        },
        (event) => event !== undefined,
        20_000,
      );
      expect(taskFailure, 'the workflow task failed').toBeDefined();
      // The failure itself is sealed, like every failure the product writes.
      const [opened] = await new EncryptionCodec(payloadKeyring(stack.masterKeys)).decode([
        taskFailure!.workflowTaskFailedEventAttributes!.failure!.encodedAttributes!,
      ]);
      expect(Buffer.from(opened!.data!).toString()).toMatch(/did not seal/);
      const history = await handle.fetchHistory();
      expect(
        history.events!.some((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes),
      ).toBe(false);
      expect(await roleExists(victim)).toBe(false);

      const refusals = await waitFor(
        async () => (await stack.call('GET', '/v1/audit?action=temporal_input_refused')).body.logs,
        (logs: unknown[]) => logs.length > 0,
      );
      expect(refusals[0]).toMatchObject({ identity_id: 'system:worker', result: 'failure' });
      await handle.terminate('attack test');
    },
  );

  it('a sealed lease input copied under another workflow id runs nothing', async () => {
    const minted = (await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {})).body;
    const copiedInput = (await stack.temporal.workflow.getHandle(minted.lease_id).fetchHistory()).events![0]!
      .workflowExecutionStartedEventAttributes!.input!.payloads!;
    const copyId = uniqueName('dlease_copy');
    // Started with the payload exactly as history holds it (sealed), as one who can reach the frontend could.
    await stack.temporal.connection.workflowService.startWorkflowExecution({
      namespace: 'default',
      workflowId: copyId,
      requestId: copyId,
      workflowType: { name: 'leaseWorkflowV2' },
      taskQueue: { name: stack.taskQueue },
      input: { payloads: copiedInput },
    });
    await expect(stack.temporal.workflow.getHandle(copyId).result()).rejects.toThrow();
    const history = await stack.temporal.workflow.getHandle(copyId).fetchHistory();
    expect(history.events!.some((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes)).toBe(
      false,
    );
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${minted.lease_id}`)).status).toBe(204);
    expect(await roleExists(minted.data.username)).toBe(false);
  });
});

describe('a role writer stays inside the roles a policy gives them', () => {
  const identity = 'user:role-writer';
  let writer: string;
  beforeAll(async () => {
    await grant(
      stack,
      uniqueName('role-writers'),
      [
        { path_pattern: `dynamic/${engine}/roles`, permissions: ['write', 'list'] },
        { path_pattern: `dynamic/${engine}/roles/*`, permissions: ['write', 'read'] },
        { path_pattern: `dynamic/${engine}/roles/readonly`, permissions: ['deny'] },
      ],
      identity,
    );
    writer = (await mintToken(stack, identity, ['dynamic:manage'])).token;
  });

  it(
    'cannot replace a role a deny protects by naming it in a POST body: 403, audited, ' + 'the role unchanged',
    async () => {
      const before = (await stack.call('GET', `/v1/dynamic/engines/${engine}/roles/readonly`)).body;
      const response = await stack.call(
        'POST',
        `/v1/dynamic/engines/${engine}/roles`,
        {
          name: 'readonly',
          creation_statements: ['CREATE ROLE "{{name}}" WITH LOGIN SUPERUSER PASSWORD \'{{password}}\''],
        },
        writer,
      );
      expect(response.status, JSON.stringify(response.body)).toBe(403);
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}/roles/readonly`)).body).toEqual(before);
      expect((await authFailures(identity))[0]!.path).toBe(`dynamic/${engine}/roles/readonly`);
    },
  );

  it('POST creates and never replaces: a second POST of the same name is 409, PATCH changes it', async () => {
    const name = uniqueName('created');
    const body = { ...target.guideRole, name };
    expect((await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, body, writer)).status).toBe(200);
    const again = await stack.call(
      'POST',
      `/v1/dynamic/engines/${engine}/roles`,
      { ...body, default_ttl: '5m' },
      writer,
    );
    expect(again.status, JSON.stringify(again.body)).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    const patched = await stack.call(
      'PATCH',
      `/v1/dynamic/engines/${engine}/roles/${name}`,
      { default_ttl: '5m' },
      writer,
    );
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.default_ttl).toBe(300);
  });
});

describe('role statements run as defined, and only inside the transaction ScaiVault gives them', () => {
  const leaked = () => uniqueName('leaked');
  const tableExists = async (table: string) =>
    (await adminQuery('SELECT 1 FROM pg_class WHERE relname = $1', [table], target.name)).length > 0;

  it.each([
    ['a COMMIT between statements', (t: string) => ['CREATE ROLE "{{name}}" LOGIN', 'COMMIT', `CREATE TABLE ${t} ()`]],
    [
      'a commented ROLLBACK',
      (t: string) => ['CREATE ROLE "{{name}}" LOGIN', '/* tidy */ ROLLBACK', `CREATE TABLE ${t} ()`],
    ],
    [
      'a session-level SET ROLE',
      (t: string) => ['SET ROLE postgres', 'CREATE ROLE "{{name}}" LOGIN', `CREATE TABLE ${t} ()`],
    ],
  ])('%s: 400 invalid_statements, nothing runs', async (_label, statements) => {
    const table = leaked();
    const response = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
      name: uniqueName('txn'),
      creation_statements: statements(table),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.error.code).toBe('invalid_statements');
    expect(await tableExists(table)).toBe(false);
  });

  it("two commands in one string: 400 invalid_statements in the database's words, nothing committed", async () => {
    const table = leaked();
    const response = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
      name: uniqueName('multi'),
      creation_statements: [`CREATE ROLE "{{name}}" LOGIN; CREATE TABLE ${table} ()`],
    });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'invalid_statements',
      details: { phase: 'creation', statement_index: 0 },
    });
    expect(response.body.error.details.message).toMatch(/multiple commands/);
    expect(await tableExists(table)).toBe(false);
  });

  it('SET LOCAL is allowed: it ends with the transaction', async () => {
    const response = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
      ...target.guideRole,
      name: uniqueName('local'),
      creation_statements: ["SET LOCAL lock_timeout = '5s'", ...target.guideRole.creation_statements],
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  });
});

describe('tokens and requests as ordinary clients send them', () => {
  it('a revoked dev root token stays revoked when the next start names it again', async () => {
    const devToken = `svt_dev_${uniqueName('root')}`;
    await ensureRootToken(stack.stores, '/nonexistent', devToken);
    expect((await stack.call('GET', '/v1/dynamic/engines', undefined, devToken)).status).toBe(200);
    const [{ token_id }] = await stack.stores.db
      .query('SELECT token_id FROM tokens WHERE token_hash = $1', [hashToken(devToken)])
      .then((r) => r.rows);
    expect((await stack.call('DELETE', `/v1/auth/tokens/${token_id}`)).status).toBe(204);
    await ensureRootToken(stack.stores, '/nonexistent', devToken); // the next start, same SCAIVAULT_DEV_ROOT_TOKEN
    await new Promise((r) => setTimeout(r, 1_100)); // past the API's live-token cache
    expect((await stack.call('GET', '/v1/dynamic/engines', undefined, devToken)).status).toBe(401);
  });

  it('POST creds and renew with no body and no Content-Type, as `curl -X POST` sends them, read as `{}`', async () => {
    const post = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.baseUrl}${path}`, {
        method: 'POST',
        ...init,
        headers: { authorization: `Bearer ${stack.rootToken}`, ...init.headers },
      });
    const minted = await post(`/v1/dynamic/engines/${engine}/creds/readonly`);
    expect(minted.status, await minted.clone().text()).toBe(200);
    const lease = (await minted.json()) as { lease_id: string; data: { username: string } };
    expect(await roleExists(lease.data.username)).toBe(true);
    const renewed = await post(`/v1/dynamic/leases/${lease.lease_id}/renew`);
    expect(renewed.status, await renewed.clone().text()).toBe(200);
    // A body that is there must still be an object; the error names the body itself.
    const array = await post(`/v1/dynamic/engines/${engine}/creds/readonly`, {
      headers: { 'content-type': 'application/json' },
      body: '[]',
    });
    expect(array.status).toBe(400);
    const { error } = (await array.json()) as { error: { code: string; details: { issues: { field: string }[] } } };
    expect(error.code).toBe('invalid_request');
    expect(error.details.issues.map((i) => i.field)).toEqual(['body']);
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}`)).status).toBe(204);
  });

  it('DELETE with Content-Type: application/json and no body is answered as a DELETE', async () => {
    const minted = (await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {})).body;
    const response = await fetch(`${stack.baseUrl}/v1/dynamic/leases/${minted.lease_id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${stack.rootToken}`, 'content-type': 'application/json' },
    });
    expect(response.status, await response.clone().text()).toBe(204);
    expect(await roleExists(minted.data.username)).toBe(false);
    // A body that is there must still be JSON.
    const broken = await fetch(`${stack.baseUrl}/v1/dynamic/leases/${minted.lease_id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${stack.rootToken}`, 'content-type': 'application/json' },
      body: '{"force":',
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });
});

describe('the API reads no file a connection_url names', () => {
  let dir: string;
  let fifo: string;
  let ca: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sv-attack-'));
    fifo = path.join(dir, 'stall.fifo');
    execFileSync('mkfifo', [fifo]);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=scaivault-test-ca',
        '-keyout',
        path.join(dir, 'ca.key'),
        '-out',
        path.join(dir, 'ca.pem'),
      ],
      { stdio: 'ignore' },
    );
    ca = execFileSync('cat', [path.join(dir, 'ca.pem')]).toString();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const withParameter = (parameter: string) => `${target.connectionUrl}&${parameter}`;

  it.each([
    ['a FIFO, which would stall a synchronous read', () => `sslrootcert=${fifo}`],
    ['/dev/zero, which would exhaust memory', () => 'sslrootcert=/dev/zero'],
    ['a file that exists', () => 'sslrootcert=/etc/hostname'],
    ['a file that does not', () => `sslrootcert=${dir}/missing.pem`],
    ['a client key', () => 'sslkey=/etc/ssl/private/key.pem'],
    ['a password file', () => 'passfile=/root/.pgpass'],
  ])('%s: 400 at once, the same answer whether the file exists or not', async (_label, parameter) => {
    const started = Date.now();
    const response = await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, {
      config: { connection_url: withParameter(parameter()) },
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.error.code).toBe('invalid_config');
    expect(response.body.error.message).toMatch(
      /may not name a file on the ScaiVault server \((sslrootcert|sslkey|passfile)\): give the CA certificate as config.ca_certificate/,
    );
  });

  it('takes the CA as a PEM value instead, and refuses what is not one', async () => {
    const set = await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, { config: { ca_certificate: ca } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.config.ca_certificate).toBe(ca);
    const garbage = await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, {
      config: { ca_certificate: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----' },
    });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.message).toMatch(/not an X.509 certificate/);
    const cleared = await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, { config: { ca_certificate: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.config.ca_certificate).toBeUndefined();
    // Leases still issue through the engine after its CA changed.
    const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    expect(minted.status).toBe(200);
  });
});

describe('every check follows its target', () => {
  const identity = 'user:one-engine-operator';
  let operator: string;
  let otherEngine: string;
  const mint = async (onEngine: string, token?: string) =>
    (await stack.call('POST', `/v1/dynamic/engines/${onEngine}/creds/readonly`, {}, token)).body;
  beforeAll(async () => {
    ({ engine: otherEngine } = await configureGuideEngine(stack, target));
    await grant(
      stack,
      uniqueName('one-engine'),
      [{ path_pattern: `dynamic/${engine}/creds/*`, permissions: ['list', 'revoke'] }],
      identity,
    );
    operator = (await mintToken(stack, identity, ['dynamic:manage'])).token;
  });

  it("an operator of one engine lists only that engine's leases", async () => {
    const mine = await mint(engine);
    const theirs = await mint(otherEngine);
    const listed = (await stack.call('GET', '/v1/dynamic/leases', undefined, operator)).body.data.map(
      (l: { lease_id: string }) => l.lease_id,
    );
    expect(listed).toContain(mine.lease_id);
    expect(listed).not.toContain(theirs.lease_id);
    expect(
      (await stack.call('GET', `/v1/dynamic/leases?engine=${otherEngine}`, undefined, operator)).body.data,
    ).toEqual([]);
  });

  it("cannot revoke another engine's leases in bulk: 403, audited, nothing revoked", async () => {
    const theirs = await mint(otherEngine);
    const response = await stack.call('POST', '/v1/dynamic/leases/revoke-prefix', { engine: otherEngine }, operator);
    expect(response.status, JSON.stringify(response.body)).toBe(403);
    expect((await stack.call('GET', `/v1/dynamic/leases/${theirs.lease_id}`)).body.state).toBe('active');
    expect(await roleExists(theirs.data.username)).toBe(true);
    expect((await authFailures(identity))[0]!.path).toBe(`dynamic/${otherEngine}/creds/readonly`);
    const own = await stack.call('POST', '/v1/dynamic/leases/revoke-prefix', { engine }, operator);
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.pending).toEqual([]);
  });

  it("a lease's creator does not pass a deny on its creds path", async () => {
    const creator = 'svc:creator-under-deny';
    await grant(
      stack,
      uniqueName('creators'),
      [{ path_pattern: `dynamic/${engine}/creds/readonly`, permissions: ['generate'] }],
      creator,
    );
    const token = (await mintToken(stack, creator, ['dynamic:generate'])).token;
    const lease = await mint(engine, token);
    expect(lease.lease_id).toBeDefined();
    await grant(
      stack,
      uniqueName('deny-creators'),
      [{ path_pattern: `dynamic/${engine}/creds/readonly`, permissions: ['deny'] }],
      creator,
    );
    expect((await stack.call('POST', `/v1/dynamic/leases/${lease.lease_id}/renew`, {}, token)).status).toBe(403);
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}`, undefined, token)).status).toBe(403);
    expect(await roleExists(lease.data.username)).toBe(true);
  });

  it('a webhook is held to the secrets its path_pattern names: create, list, read and delete', async () => {
    const team = uniqueName('team');
    const hooksOperator = `user:${team}-rotator`;
    await grant(
      stack,
      uniqueName('rotate-team'),
      [{ path_pattern: `infra/${team}/*`, permissions: ['rotate'] }],
      hooksOperator,
    );
    const token = (await mintToken(stack, hooksOperator, ['rotation:manage'])).token;
    const hook = (pathPattern?: string, as?: string) =>
      stack.call(
        'POST',
        '/v1/webhooks',
        { url: 'https://hooks.example.com/rotated', events: ['secret.rotated'], path_pattern: pathPattern },
        as,
      );
    const hookCount = async () => Number((await stack.stores.db.query('SELECT count(*) FROM webhooks')).rows[0].count);

    const own = await hook(`infra/${team}/db/*`, token);
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    const before = await hookCount();
    for (const wider of [`infra/*`, `infra/${team}*`, undefined]) {
      const refused = await hook(wider, token);
      expect(refused.status, String(wider)).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
    }
    expect(await hookCount()).toBe(before);
    expect((await authFailures(hooksOperator)).filter((e) => e.path === 'webhooks')).toHaveLength(3);

    const theirs = await hook(`infra/${uniqueName('other-team')}/*`);
    expect(theirs.status).toBe(201);
    const listed = (await stack.call('GET', '/v1/webhooks', undefined, token)).body.data.map(
      (w: { id: string }) => w.id,
    );
    expect(listed).toEqual([own.body.id]);
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '/deliveries'],
      ['DELETE', ''],
    ] as const) {
      expect(
        (await stack.call(method, `/v1/webhooks/${theirs.body.id}${suffix}`, undefined, token)).status,
        `${method} ${suffix}`,
      ).toBe(403);
    }
    expect((await stack.call('GET', `/v1/webhooks/${theirs.body.id}`)).status).toBe(200);

    await grant(
      stack,
      uniqueName('deny-team-root'),
      [{ path_pattern: `infra/${team}/db/root`, permissions: ['deny'] }],
      hooksOperator,
    );
    expect((await hook(`infra/${team}/db/*`, token)).status).toBe(403);
    expect((await hook(`infra/${team}/cache/*`, token)).status).toBe(201);
    expect((await stack.call('DELETE', `/v1/webhooks/${own.body.id}`, undefined, token)).status).toBe(403);
  });

  it('"versions" is reserved: no secret is written or deleted under it, and the listing still answers', async () => {
    const base = `app/${uniqueName('reserved')}`;
    expect((await stack.call('PUT', `/v1/secrets/${base}`, { data: { v: 1 } })).status).toBe(200);
    const put = await stack.call('PUT', `/v1/secrets/${base}/versions`, { data: { v: 2 } });
    expect(put.status, JSON.stringify(put.body)).toBe(400);
    expect((await stack.call('DELETE', `/v1/secrets/${base}/versions`)).status).toBe(400);
    const versions = await stack.call('GET', `/v1/secrets/${base}/versions`);
    expect(versions.status).toBe(200);
    expect(JSON.stringify(versions.body)).not.toContain('"v":2');
  });
});
