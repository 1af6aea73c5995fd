import { describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import { roleExists, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;

// No worker runs until the test starts one; callers wait at most two seconds for it.
withGuideStack({ withGrantOption: true, worker: false, workerWaitMs: 2_000 }, (c) => ({ stack, target, engine } = c));

describe('while no worker runs', () => {
  it('answers a mint with 503 instead of hanging, and revokes that lease once a worker is back', async () => {
    const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    expect(minted.status).toBe(503);
    expect(minted.body.error.code).toBe('engine_unavailable');

    await stack.startWorker();
    // The abandoned lease is issued and at once revoked: it ends revoked, and its role is gone.
    const lease = await waitFor(
      async () =>
        (await stack.stores.db.query<{ state: string; username: string }>('SELECT state, username FROM leases')).rows,
      (rows) => rows.length === 1 && rows[0]!.state === 'revoked',
      30_000,
    );
    expect(lease).toEqual([expect.objectContaining({ state: 'revoked' })]);
    expect(await roleExists(lease[0]!.username)).toBe(false);
    void target;
  });

  it('queues a revocation it could not wait for, and it happens once a worker is back', async () => {
    const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    expect(minted.status).toBe(200);
    await stack.stopWorker();
    const revoked = await stack.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}`);
    expect(revoked.status).toBe(202);
    expect(revoked.body.state).toBe('revoking');
    expect(await roleExists(minted.body.data.username)).toBe(true);

    await stack.startWorker();
    const lease = await waitFor(
      async () => (await stack.call('GET', `/v1/dynamic/leases/${minted.body.lease_id}`)).body,
      (l) => l.state === 'revoked',
      30_000,
    );
    expect(lease.state).toBe('revoked');
    expect(await roleExists(minted.body.data.username)).toBe(false);
  });

  it('answers a rotation it cannot start, and a confirmation no worker takes, with 503 within the wait', async () => {
    await stack.stopWorker();
    const path = 'app/no-worker/db';
    expect(
      (
        await stack.call('PUT', `/v1/secrets/${path}`, {
          data: { username: 'svc', password: 'p' },
          secret_type: 'json',
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await stack.call('POST', '/v1/rotation/policies', {
          id: 'rot_no_worker',
          name: 'no-worker',
          interval: '1h',
          grace_period: '1h',
          auto_generate: true,
          secret_policy_id: 'sp_db_passwords',
        })
      ).status,
    ).toBe(201);
    expect(
      (await stack.call('POST', '/v1/rotation/policies/rot_no_worker/secrets', { secret_path: path })).status,
    ).toBe(200);
    for (const call of [
      () => stack.call('POST', `/v1/rotation/secrets/${path}/rotate`),
      async () => {
        // A rotation the store shows pending, whose workflow no worker runs.
        const workflowId = `rotation-no-worker-${Date.now()}`;
        await stack.temporal.workflow.start('rotationWorkflow', {
          workflowId,
          taskQueue: stack.taskQueue,
          args: [{ secretPath: 'app/none', trigger: 'manual', requestedBy: 'root' }],
        });
        await stack.stores.db.query(
          'INSERT INTO rotations (rotation_id, secret_path, workflow_id, trigger, state, requested_by) ' +
            `VALUES ('rtn_noworker', 'app/none', $1, 'manual', 'pending', 'root')`,
          [workflowId],
        );
        return stack.call('POST', '/v1/rotation/rotations/rtn_noworker/confirm');
      },
    ]) {
      const started = Date.now();
      const answer = await call();
      expect(answer.status, JSON.stringify(answer.body)).toBe(503);
      expect(answer.body.error.code).toBe('engine_unavailable');
      expect(Date.now() - started).toBeLessThan(10_000);
    }
  });
});
