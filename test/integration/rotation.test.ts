import type { Payload } from '@temporalio/common';
import pg from 'pg';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../lib/payload-codec';
import { rotationWorkflowId } from '../../lib/rotation-activities';
import { rootRotationWorkflowId } from '../../lib/root-rotation-activities';
import { scramVerifier } from '../../lib/scram';
import { payloadKeyring } from '../../store';
import { grant, mintToken } from '../support/auth';
import { withGuideStack } from '../support/guide';
import type { Answer } from '../support/http';
import { ADMIN_URL, adminQuery, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
let rootPath: string;
withGuideStack(
  { withGrantOption: true, engineConfig: { credentials_cache_ttl: '1s' } },
  (c) => ({ stack, target, engine, rootPath } = c),
);

/** A webhook receiver on 127.0.0.1: each POST is recorded and answered by the current handler. */
interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}
let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];
let handle: (request: Received, response: ServerResponse) => Promise<void> = async (_r, response) =>
  void response.end();

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const entry = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      handle(entry, response).catch((error) => {
        response.statusCode = 599;
        response.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
  if (!stack) return;
  const { rows } = await stack.stores.db.query<{ schedule_id: string }>('SELECT schedule_id FROM rotation_assignments');
  await Promise.all(
    rows.map((r) =>
      stack.temporal.schedule
        .getHandle(r.schedule_id)
        .delete()
        .catch(() => {}),
    ),
  );
});

const rolpassword = async (role: string) =>
  (await adminQuery<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]))[0]!
    .rolpassword;

/**
 * Whether `password` is the one Postgres holds a SCRAM verifier of (loopback is trusted here, so no login
 * proves it).
 */
async function holdsPassword(role: string, password: string) {
  const stored = await rolpassword(role);
  const salt = Buffer.from(stored.split('$')[1]!.split(':')[1]!, 'base64');
  return (await scramVerifier(password, salt)) === stored;
}

function verifySignature(header: string | string[] | undefined, secret: string, body: string) {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(header));
  expect(match, String(header)).not.toBeNull();
  expect(match![2]).toBe(createHmac('sha256', secret).update(`${match![1]}.${body}`).digest('hex'));
  expect(Math.abs(Number(match![1]) - Date.now() / 1000)).toBeLessThan(300);
}

const rotationStatus = (path: string) => stack.call('GET', `/v1/rotation/secrets/${path}`);
const mint = () => stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});

/** Every payload in the workflow's history, decoded with the product's codec, as text. */
async function decodedHistory(workflowId: string): Promise<string> {
  const history = await stack.temporal.workflow.getHandle(workflowId).fetchHistory();
  const payloads: Payload[] = [];
  const walk = (value: unknown): void => {
    if (!value || typeof value !== 'object') return;
    if ('data' in value && 'metadata' in value && (value as Payload).data instanceof Uint8Array)
      payloads.push(value as Payload);
    else for (const child of Object.values(value)) walk(child);
  };
  walk(history.events);
  const decoded = await new EncryptionCodec(payloadKeyring(stack.masterKeys)).decode(payloads);
  expect(decoded.length).toBeGreaterThan(0);
  return decoded.map((p) => Buffer.from(p.data ?? []).toString('utf8')).join('\n');
}

describe('secret policies', () => {
  it(
    'ship sp_db_passwords; create 201 with an sp_ id; ' + 'refuse bad rules with 400 and a taken name with 409',
    async () => {
      const builtin = await stack.call('GET', '/v1/secret-policies/sp_db_passwords');
      expect(builtin.status).toBe(200);
      expect(builtin.body).toMatchObject({ id: 'sp_db_passwords', length: 32, builtin: true });
      expect(builtin.body.charset).toMatch(/^[A-Za-z0-9]+$/);

      const created = await stack.call('POST', '/v1/secret-policies', {
        name: 'api-keys',
        length: 40,
        charset: 'abcdef0123456789',
        min_digits: 4,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.id).toMatch(/^sp_/);
      expect((await stack.call('GET', '/v1/secret-policies')).body.data.map((p: { id: string }) => p.id)).toEqual(
        expect.arrayContaining(['sp_db_passwords', created.body.id]),
      );
      expect((await stack.call('POST', '/v1/secret-policies', { name: 'api-keys', length: 40 })).status).toBe(409);

      for (const body of [
        { name: 'short', length: 4 },
        { name: 'spaces', length: 32, charset: 'ab cd' },
        { name: 'too-many-digits', length: 10, min_digits: 11 },
        { name: 'no-digits-to-pick', length: 32, charset: 'abcdefgh', min_digits: 1 },
        { name: 'weak', length: 8, charset: 'ab' },
        { name: 'bad-id', length: 32, id: 'sp_Upper' },
      ]) {
        const refused = await stack.call('POST', '/v1/secret-policies', body);
        expect(refused.status, JSON.stringify(body)).toBe(400);
        expect(refused.body.error).toMatchObject({
          code: 'invalid_request',
          request_id: expect.stringMatching(/^req_/),
        });
      }
    },
  );
});

describe("the guide's step 7", () => {
  it(
    'works verbatim: the policy is created, ' + 'and assigning infra/postgres/reporting/root schedules its rotation',
    async () => {
      const guidePolicy = {
        name: 'db-roots-weekly',
        interval: '7d',
        grace_period: '24h',
        auto_generate: true,
        secret_policy_id: 'sp_db_passwords',
      };
      const created = await stack.call('POST', '/v1/rotation/policies', guidePolicy);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body).toMatchObject({ id: expect.stringMatching(/^rot_/), interval: 604800, grace_period: 86400 });
      // The guide's example id cannot come from a generator: a client may choose it.
      const chosen = await stack.call('POST', '/v1/rotation/policies', {
        ...guidePolicy,
        name: 'db-roots-weekly-guide',
        id: 'rot_db_root',
      });
      expect(chosen.status, JSON.stringify(chosen.body)).toBe(201);
      expect(chosen.body.id).toBe('rot_db_root');
      expect(
        (await stack.call('POST', '/v1/rotation/policies', { ...guidePolicy, name: 'another', id: 'rot_db_root' }))
          .status,
      ).toBe(409);

      const stored = await stack.call('PUT', '/v1/secrets/infra/postgres/reporting/root', {
        data: { username: 'scaivault_admin', password: 'temporary-bootstrap-password' },
        secret_type: 'json',
      });
      expect(stored.status).toBe(200);
      const assigned = await stack.call('POST', '/v1/rotation/policies/rot_db_root/secrets', {
        secret_path: 'infra/postgres/reporting/root',
      });
      expect(assigned.status, JSON.stringify(assigned.body)).toBe(200);
      const next = Date.parse(assigned.body.next_rotation_at);
      expect(next - Date.now()).toBeGreaterThan(6 * 86400_000);

      const status = await rotationStatus('infra/postgres/reporting/root');
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({
        policy: { id: 'rot_db_root', interval: 604800 },
        current_rotation: null,
        last_rotation: null,
      });
      expect(status.body.next_rotation_at).toBe(assigned.body.next_rotation_at);
      expect((await stack.call('GET', '/v1/rotation/policies/rot_db_root')).body.secret_paths).toEqual([
        'infra/postgres/reporting/root',
      ]);
    },
  );
});

describe('a rotation of the engine root credential, confirmed by a webhook receiver', () => {
  it(
    'delivers a signed event without the value; the receiver reads it, runs ALTER ROLE and confirms; ' +
      'previous stays readable, then retires',
    async () => {
      expect(
        (
          await stack.call('POST', '/v1/rotation/policies', {
            id: 'rot_engine_root',
            name: 'engine-root',
            interval: '7d',
            grace_period: '10s',
            auto_generate: true,
            secret_policy_id: 'sp_db_passwords',
          })
        ).status,
      ).toBe(201);
      expect(
        (await stack.call('POST', '/v1/rotation/policies/rot_engine_root/secrets', { secret_path: rootPath })).status,
      ).toBe(200);
      const hook = await stack.call('POST', '/v1/webhooks', {
        url: receiverUrl,
        events: ['secret.rotated'],
        path_pattern: rootPath,
      });
      expect(hook.status, JSON.stringify(hook.body)).toBe(201);
      const signingSecret: string = hook.body.signing_secret;
      expect((await stack.call('GET', `/v1/webhooks/${hook.body.id}`)).body.signing_secret).toBeUndefined();
      const [sealed] = (
        await stack.stores.db.query('SELECT w::text AS row FROM webhooks w WHERE id = $1', [hook.body.id])
      ).rows;
      expect(sealed.row).not.toContain(signingSecret);

      // The receiver runs as the engine machinery, with its own token and the guide's step 2 policy.
      const own = (await mintToken(stack, 'system:dynamic-engines', ['secrets:read', 'rotation:manage'])).token;
      await grant(
        stack,
        'engine-root-rotation',
        [{ path_pattern: rootPath, permissions: ['read', 'rotate'] }],
        'system:dynamic-engines',
      );

      const before = await stack.call('GET', `/v1/secrets/${rootPath}`);
      const passwordBefore = await rolpassword(target.admin);
      let newPassword = '';
      let mintedInWindow = 0;
      let confirmedStatus = 0;
      handle = async ({ headers, body }, response) => {
        verifySignature(headers['x-scaivault-signature'], signingSecret, body);
        const event = JSON.parse(body);
        const read = await stack.call(
          'GET',
          `/v1/secrets/${event.data.secret_path}?version=${event.data.version}`,
          undefined,
          own,
        );
        expect(read.body.state).toBe('pending');
        newPassword = read.body.data.password;
        await adminQuery(`ALTER ROLE ${target.admin} PASSWORD '${newPassword}'`);
        mintedInWindow = (await mint()).status; // the database has the new password; the store still says pending
        const confirmed = await fetch(event.data.confirm_url, {
          method: 'POST',
          headers: { authorization: `Bearer ${own}` },
        });
        confirmedStatus = confirmed.status;
        response.end('ok');
      };

      const started = await stack.call('POST', `/v1/rotation/secrets/${rootPath}/rotate`);
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      expect(started.body).toMatchObject({
        rotation_id: expect.stringMatching(/^rtn_/),
        state: 'pending',
        new_version: before.body.version + 1,
        trigger: 'manual',
      });
      const again = await stack.call('POST', `/v1/rotation/secrets/${rootPath}/rotate`);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('conflict');

      expect(
        await waitFor(
          async () => confirmedStatus,
          (status) => status !== 0,
        ),
      ).toBe(200);
      const confirmed = await rotationStatus(rootPath);
      expect(confirmed.body.current_rotation).toMatchObject({
        rotation_id: started.body.rotation_id,
        confirmed_by: 'system:dynamic-engines',
      });
      expect(mintedInWindow).toBe(200);

      const event = JSON.parse(received.at(-1)!.body);
      expect(event).toMatchObject({
        id: expect.any(String),
        type: 'secret.rotated',
        created_at: expect.any(String),
        data: {
          secret_path: rootPath,
          version: started.body.new_version,
          rotation_id: started.body.rotation_id,
          confirm_url: `${stack.baseUrl}/v1/rotation/rotations/${started.body.rotation_id}/confirm`,
        },
      });
      expect(received.at(-1)!.body).not.toContain(newPassword);
      expect(newPassword).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(await rolpassword(target.admin)).not.toBe(passwordBefore);
      expect(await holdsPassword(target.admin, newPassword)).toBe(true);

      const current = await stack.call('GET', `/v1/secrets/${rootPath}`);
      expect(current.body).toMatchObject({
        version: started.body.new_version,
        state: 'current',
        data: { username: target.admin, password: newPassword },
      });
      const previous = await stack.call('GET', `/v1/secrets/${rootPath}?version=${before.body.version}`);
      expect(previous.body).toMatchObject({ state: 'previous', data: before.body.data });
      expect((await mint()).status).toBe(200);
      expect(
        (await stack.call('POST', `/v1/rotation/rotations/${started.body.rotation_id}/confirm`, undefined, own)).status,
      ).toBe(409);

      const done = await waitFor(
        () => rotationStatus(rootPath),
        (s) => s.body.last_rotation?.state === 'completed',
        40_000,
      );
      expect(done.body).toMatchObject({
        current_rotation: null,
        last_rotation: { rotation_id: started.body.rotation_id, state: 'completed' },
      });
      expect((await stack.call('GET', `/v1/secrets/${rootPath}?version=${before.body.version}`)).status).toBe(404);
      expect(
        (await stack.call('GET', `/v1/secrets/${rootPath}/versions`)).body.versions
          .map((v: { state: string }) => v.state)
          .slice(-2),
      ).toEqual(['retired', 'current']);
      expect((await mint()).status).toBe(200);

      const deliveries = await stack.call('GET', `/v1/webhooks/${hook.body.id}/deliveries`);
      expect(deliveries.body.data).toEqual([
        expect.objectContaining({
          status: 'delivered',
          attempts: 1,
          response_code: 200,
          last_error: null,
          rotation_id: started.body.rotation_id,
        }),
      ]);
      expect(JSON.stringify(deliveries.body)).not.toContain(signingSecret);

      const audit = (await stack.call('GET', `/v1/audit?limit=1000`)).body.logs.filter(
        (l: { extra_data: { rotation_id?: string } }) => l.extra_data.rotation_id === started.body.rotation_id,
      );
      expect(audit.map((l: { action: string }) => l.action)).toEqual(
        expect.arrayContaining(['rotation_start', 'rotation_confirm', 'rotation_complete']),
      );
      const { rows } = await stack.stores.db.query('SELECT a::text AS row FROM audit_log a');
      for (const { row } of rows) {
        expect(row).not.toContain(newPassword);
        expect(row).not.toContain(signingSecret);
      }
      const history = await decodedHistory(rotationWorkflowId(stack.taskQueue, rootPath));
      expect(history).toContain(started.body.rotation_id);
      expect(history).not.toContain(newPassword);
    },
    90_000,
  );
});

describe('an unconfirmed rotation', () => {
  it(
    'expires after the grace period, retiring the pending value and leaving the current one; ' +
      'a receiver that first answers 500 gets the event again',
    async () => {
      const path = 'app/billing/db';
      expect(
        (
          await stack.call('PUT', `/v1/secrets/${path}`, {
            data: { username: 'billing', password: 'old-billing-password' },
            secret_type: 'json',
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await stack.call('POST', '/v1/rotation/policies', {
            id: 'rot_short',
            name: 'short-grace',
            interval: '1h',
            grace_period: '5s',
            auto_generate: true,
            secret_policy_id: 'sp_db_passwords',
          })
        ).status,
      ).toBe(201);
      expect((await stack.call('POST', '/v1/rotation/policies/rot_short/secrets', { secret_path: path })).status).toBe(
        200,
      );
      const hook = await stack.call('POST', '/v1/webhooks', {
        url: receiverUrl,
        events: ['secret.rotated'],
        path_pattern: 'app/billing/*',
      });
      let calls = 0;
      handle = async (_request, response) => {
        calls++;
        response.statusCode = calls === 1 ? 500 : 200;
        response.end();
      };

      const started = await stack.call('POST', `/v1/rotation/secrets/${path}/rotate`);
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      const delivered = await waitFor(
        () => stack.call('GET', `/v1/webhooks/${hook.body.id}/deliveries`),
        (d) => d.body.data[0]?.status === 'delivered',
      );
      expect(delivered.body.data[0]).toMatchObject({
        status: 'delivered',
        attempts: 2,
        response_code: 200,
        last_error: null,
      });

      const expired = await waitFor(
        () => rotationStatus(path),
        (s) => s.body.last_rotation?.state === 'expired',
        30_000,
      );
      expect(expired.body.last_rotation).toMatchObject({
        rotation_id: started.body.rotation_id,
        state: 'expired',
        last_error: expect.stringContaining('not confirmed'),
      });
      expect(expired.body.current_rotation).toBeNull();
      const current = await stack.call('GET', `/v1/secrets/${path}`);
      expect(current.body).toMatchObject({
        version: started.body.new_version - 1,
        state: 'current',
        data: { password: 'old-billing-password' },
      });
      expect((await stack.call('GET', `/v1/secrets/${path}?version=${started.body.new_version}`)).status).toBe(404);
      expect((await stack.call('POST', `/v1/rotation/rotations/${started.body.rotation_id}/confirm`)).status).toBe(409);

      const metrics = await fetch(`${stack.baseUrl}/metrics`, {
        headers: { authorization: `Bearer ${stack.rootToken}` },
      }).then((r) => r.text());
      const value = (line: RegExp) => Number(metrics.match(line)?.[1]);
      expect(value(/^scaivault_rotations\{state="expired"\} (\d+)$/m)).toBe(1);
      expect(value(/^scaivault_webhook_delivery_failed_attempts (\d+)$/m)).toBeGreaterThanOrEqual(1);
      expect(value(/^scaivault_webhook_deliveries\{status="delivered"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    },
    60_000,
  );
});

describe('a rotation whose workflow outlives its store row', () => {
  it('a manual rotation waits for the last one to finish delivering its events, then starts', async () => {
    const path = 'app/lingering/db';
    const put = await stack.call('PUT', `/v1/secrets/${path}`, {
      data: { username: 'svc', password: 'lingering-password' },
      secret_type: 'json',
    });
    expect(put.status).toBe(200);
    const policy = await stack.call('POST', '/v1/rotation/policies', {
      id: 'rot_linger',
      name: 'lingering',
      interval: '1h',
      grace_period: '1s',
      auto_generate: true,
      secret_policy_id: 'sp_db_passwords',
    });
    expect(policy.status).toBe(201);
    expect((await stack.call('POST', '/v1/rotation/policies/rot_linger/secrets', { secret_path: path })).status).toBe(
      200,
    );
    const hook = await stack.call('POST', '/v1/webhooks', {
      url: receiverUrl,
      events: ['secret.rotated'],
      path_pattern: 'app/lingering/*',
    });
    expect(hook.status).toBe(201);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    handle = async (_request, response) => {
      await held;
      response.end();
    };
    try {
      const first = await stack.call('POST', `/v1/rotation/secrets/${path}/rotate`);
      expect(first.status, JSON.stringify(first.body)).toBe(202);
      await waitFor(
        () => rotationStatus(path),
        (s) => s.body.last_rotation?.state === 'expired',
        30_000,
      );
      const workflow = await stack.temporal.workflow.getHandle(rotationWorkflowId(stack.taskQueue, path)).describe();
      expect(workflow.status.name).toBe('RUNNING'); // still delivering the held event

      setTimeout(release, 500);
      const second = await stack.call('POST', `/v1/rotation/secrets/${path}/rotate`);
      expect(second.status, JSON.stringify(second.body)).toBe(202);
      expect(second.body.rotation_id).not.toBe(first.body.rotation_id);
    } finally {
      release();
      handle = async (_r, response) => void response.end();
    }
  }, 60_000);
});

describe('a secret deleted mid-rotation', () => {
  it('ends its rotation as failed, leaves no rotation wedged, and the path rotates again once re-created', async () => {
    const path = 'app/deleted-mid-rotation/db';
    const put = () =>
      stack.call('PUT', `/v1/secrets/${path}`, {
        data: { username: 'svc', password: 'first-password' },
        secret_type: 'json',
      });
    expect((await put()).status).toBe(200);
    expect(
      (
        await stack.call('POST', '/v1/rotation/policies', {
          id: 'rot_deleted',
          name: 'deleted-mid-rotation',
          interval: '1h',
          grace_period: '1h',
          auto_generate: true,
          secret_policy_id: 'sp_db_passwords',
        })
      ).status,
    ).toBe(201);
    const assign = () => stack.call('POST', '/v1/rotation/policies/rot_deleted/secrets', { secret_path: path });
    expect((await assign()).status).toBe(200);
    const started = await stack.call('POST', `/v1/rotation/secrets/${path}/rotate`);
    expect(started.status, JSON.stringify(started.body)).toBe(202);

    expect((await stack.call('DELETE', `/v1/secrets/${path}`)).status).toBe(204);
    const [row] = (
      await stack.stores.db.query('SELECT state, last_error FROM rotations WHERE rotation_id = $1', [
        started.body.rotation_id,
      ])
    ).rows;
    expect(row).toEqual({ state: 'failed', last_error: 'the secret was deleted' });
    expect((await stack.call('POST', `/v1/rotation/rotations/${started.body.rotation_id}/confirm`)).status).toBe(409);
    expect((await stack.call('POST', `/v1/rotation/secrets/${path}/rotate`)).status).toBe(400); // no longer assigned

    expect((await put()).status).toBe(200);
    expect((await assign()).status).toBe(200);
    const again = await stack.call('POST', `/v1/rotation/secrets/${path}/rotate`);
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect((await stack.call('POST', `/v1/rotation/rotations/${again.body.rotation_id}/confirm`)).status).toBe(200);
  }, 60_000);
});

describe('rotate-root', () => {
  it(
    'changes the engine root password in the database and the store, answers the engine without the password, ' +
      'and minting goes on',
    async () => {
      const before = await stack.call('GET', `/v1/secrets/${rootPath}`);
      const rotated = await stack.call('POST', `/v1/dynamic/engines/${engine}/rotate-root`);
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect(rotated.body).toMatchObject({ name: engine, config: { root_credentials_path: rootPath } });
      const after = await stack.call('GET', `/v1/secrets/${rootPath}`);
      expect(after.body).toMatchObject({
        version: before.body.version + 1,
        state: 'current',
        data: { username: target.admin },
      });
      const password: string = after.body.data.password;
      expect(password).not.toBe(before.body.data.password);
      expect(JSON.stringify(rotated.body)).not.toContain(password);
      expect(await holdsPassword(target.admin, password)).toBe(true);
      expect((await stack.call('GET', `/v1/secrets/${rootPath}?version=${before.body.version}`)).status).toBe(404);
      expect((await mint()).status).toBe(200);
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}`)).body.connection_status).toBe('healthy');
      const status = await rotationStatus(rootPath);
      expect(status.body.last_rotation).toMatchObject({
        trigger: 'rotate_root',
        state: 'completed',
        new_version: after.body.version,
      });
      const { rows } = await stack.stores.db.query(
        `SELECT a::text AS row FROM audit_log a WHERE action = 'engine_write' ` +
          `AND extra_data->>'operation' = 'rotate_root'`,
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].row).not.toContain(password);
      expect((await stack.call('POST', '/v1/dynamic/engines/no-such-engine/rotate-root')).status).toBe(404);
    },
  );

  it(
    'carries on a rotate-root whose process stopped after writing its pending version, ' +
      'and refuses other rotations meanwhile',
    async () => {
      const before = await stack.call('GET', `/v1/secrets/${rootPath}`);
      // As a crash leaves it: a pending version and its rotation still in progress, ALTER ROLE never run.
      const pending = await stack.stores.secrets.put(
        rootPath,
        { ...before.body.data, password: 'never-set-password-0123456789ab' },
        'json',
        'pending',
      );
      await stack.stores.db.query(
        'INSERT INTO rotations (rotation_id, secret_path, workflow_id, trigger, state, requested_by, ' +
          `new_version, previous_version, started_at)
       VALUES ('rtn_crashed', $1, 'rotate-root', 'rotate_root', 'pending', 'root', $2, $3, now() - interval '1 hour')`,
        [rootPath, pending.version, before.body.version],
      );
      expect((await stack.call('POST', `/v1/rotation/secrets/${rootPath}/rotate`)).status).toBe(409);
      const rotated = await stack.call('POST', `/v1/dynamic/engines/${engine}/rotate-root`);
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect(await stack.stores.rotation.get('rtn_crashed')).toMatchObject({
        state: 'completed',
        new_version: pending.version,
        previous_version: before.body.version,
      });
      const after = await stack.call('GET', `/v1/secrets/${rootPath}`);
      expect(after.body).toMatchObject({
        version: pending.version,
        data: { password: 'never-set-password-0123456789ab' },
      });
      expect(await holdsPassword(target.admin, after.body.data.password)).toBe(true);
      expect((await stack.call('GET', `/v1/secrets/${rootPath}?version=${before.body.version}`)).status).toBe(404);
      expect((await mint()).status).toBe(200);
    },
  );

  it(
    'is a workflow: asked while no worker runs, it finishes once one does, ' + 'and its history holds no password',
    async () => {
      const before = await stack.call('GET', `/v1/secrets/${rootPath}`);
      await stack.stopWorker();
      let rotated: Promise<Answer> | undefined;
      try {
        rotated = stack.call('POST', `/v1/dynamic/engines/${engine}/rotate-root`);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await stack.startWorker();
      }
      expect((await rotated!).status).toBe(200);
      const after = await stack.call('GET', `/v1/secrets/${rootPath}`);
      expect(after.body.version).toBe(before.body.version + 1);
      expect(await holdsPassword(target.admin, after.body.data.password)).toBe(true);
      const history = await decodedHistory(rootRotationWorkflowId(stack.taskQueue, engine));
      expect(history).not.toContain(after.body.data.password);
      expect((await mint()).status).toBe(200);
    },
  );

  it('refused by the database: 503 in its words, the pending value retired, the current one kept', async () => {
    const before = await stack.call('GET', `/v1/secrets/${rootPath}`);
    // Another session holds the root role's row: ALTER ROLE waits, and the engine's lock_timeout ends the wait.
    expect(
      (await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, { config: { lock_timeout: '1s' } })).status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 1_500)); // the worker's pools re-read the engine after credentials_cache_ttl
    const holder = new pg.Client({ connectionString: ADMIN_URL });
    await holder.connect();
    try {
      await holder.query(`BEGIN; ALTER ROLE ${target.admin} CONNECTION LIMIT -1`);
      const refused = await stack.call('POST', `/v1/dynamic/engines/${engine}/rotate-root`);
      expect(refused.status, JSON.stringify(refused.body)).toBe(503);
      expect(refused.body.error.message).toMatch(/lock timeout/);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect((await stack.call('GET', `/v1/secrets/${rootPath}`)).body.version).toBe(before.body.version);
    expect(await holdsPassword(target.admin, before.body.data.password)).toBe(true);
    expect((await rotationStatus(rootPath)).body.last_rotation).toMatchObject({
      trigger: 'rotate_root',
      state: 'failed',
    });
    expect((await mint()).status).toBe(200);
  });
});

describe('bad rotation input', () => {
  it('gets a 4xx in the contract shape', async () => {
    const policy = {
      name: 'x',
      interval: '7d',
      grace_period: '24h',
      auto_generate: true,
      secret_policy_id: 'sp_db_passwords',
    };
    const cases: [string, string, unknown, number][] = [
      ['POST', '/v1/rotation/policies', { ...policy, interval: '7x' }, 400],
      ['POST', '/v1/rotation/policies', { ...policy, interval: '10s' }, 400],
      ['POST', '/v1/rotation/policies', { ...policy, auto_generate: false }, 400],
      ['POST', '/v1/rotation/policies', { ...policy, secret_policy_id: 'sp_nosuch' }, 400],
      ['POST', '/v1/rotation/policies', { ...policy, id: 'rot_Not-Valid' }, 400],
      ['POST', '/v1/rotation/policies/rot_nosuch/secrets', { secret_path: rootPath }, 404],
      ['POST', '/v1/rotation/policies/rot_engine_root/secrets', { secret_path: 'no/such/secret' }, 404],
      ['POST', '/v1/rotation/policies/rot_engine_root/secrets', { secret_path: '../etc' }, 400],
      ['POST', '/v1/rotation/secrets/app/unassigned/rotate', undefined, 400],
      ['POST', '/v1/rotation/secrets/app/unassigned', undefined, 404],
      ['GET', '/v1/rotation/secrets/app/unassigned', undefined, 404],
      ['POST', '/v1/rotation/rotations/rtn_nosuch/confirm', undefined, 404],
      ['POST', '/v1/rotation/rotations/not-an-id/confirm', undefined, 400],
      ['POST', '/v1/webhooks', { url: 'ftp://example.com', events: ['secret.rotated'] }, 400],
      ['POST', '/v1/webhooks', { url: receiverUrl, events: ['secret.deleted'] }, 400],
      ['POST', '/v1/webhooks', { url: receiverUrl, events: ['secret.rotated'], path_pattern: 'a/*/b' }, 400],
      ['GET', '/v1/webhooks/wh_nosuch/deliveries', undefined, 404],
    ];
    for (const [method, url, body, status] of cases) {
      const answer = await stack.call(method, url, body);
      expect(answer.status, `${method} ${url} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`).toBe(status);
      expect(answer.body.error).toMatchObject({
        code: expect.any(String),
        message: expect.any(String),
        request_id: expect.stringMatching(/^req_/),
      });
    }
  });
});
