import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createLeaseActivities } from '../../activities/lease';
import { createRotationActivities } from '../../activities/rotation';
import { TargetPools } from '../../engine/target-pools';
import type { LeaseProgress, LeaseSpec } from '../../lib/lease';
import { leasePasswordSeal } from '../../store';
import { withGuideStack } from '../support/guide';
import { uniqueName } from '../support/postgres';
import type { Stack } from '../support/stack';

/** Activities run twice, as Temporal retries one whose completion was lost: nothing is recorded twice. */
let stack: Stack;
withGuideStack({ configure: false, worker: false }, (c) => ({ stack } = c));

const entries = async (action: string, key: string, value: string) =>
  (
    await stack.stores.db.query(`SELECT extra_data FROM audit_log WHERE action = $1 AND extra_data->>$2 = $3`, [
      action,
      key,
      value,
    ])
  ).rows;

describe('a retried lease activity', () => {
  it('records the expiry once, however often the attempt that recorded it is retried', async () => {
    const activities = createLeaseActivities({
      targets: new TargetPools({ engines: stack.stores.engines, secrets: stack.stores.secrets }),
      stores: stack.stores,
      storeId: 'store_retries',
      passwords: leasePasswordSeal(stack.masterKeys),
    });
    const leaseId = uniqueName('lease');
    const spec: LeaseSpec = {
      leaseId,
      engine: 'retries',
      role: 'readonly',
      username: `v_${leaseId}`,
      identityId: 'svc:retries',
      metadata: {},
      ttlSeconds: 60,
      maxTtlSeconds: 120,
      defaultIncrementSeconds: 60,
      statements: { creation: [], revocation: [], renew: [] },
    };
    const now = new Date().toISOString();
    const progress: LeaseProgress = {
      state: 'expired',
      issuedAt: now,
      expiresAt: now,
      maxExpiresAt: now,
      revokedAt: now,
      revokeReason: 'expired',
    };
    // Every attempt of one scheduled activity has the same workflow, run and activity id; only the attempt differs.
    const attempt = (n: number) =>
      new MockActivityEnvironment({
        workflowExecution: { workflowId: leaseId, runId: 'run-1' },
        activityId: '7',
        attempt: n,
      } as never).run(activities.recordLeaseState, {
        spec,
        progress,
        audit: { action: 'dynamic_expire' as const, result: 'success' as const },
      });
    await attempt(1);
    await attempt(2);
    await attempt(3);
    expect(await entries('dynamic_expire', 'lease_id', leaseId)).toHaveLength(1);
    // Another scheduled activity is another event.
    await new MockActivityEnvironment({
      workflowExecution: { workflowId: leaseId, runId: 'run-1' },
      activityId: '9',
    } as never).run(activities.recordLeaseState, {
      spec,
      progress,
      audit: { action: 'dynamic_expire' as const, result: 'success' as const },
    });
    expect(await entries('dynamic_expire', 'lease_id', leaseId)).toHaveLength(2);
  });
});

describe('a retried rotation confirmation', () => {
  /** A rotation of `path` whose new value is pending: version 1 current, version 2 pending. */
  async function pendingRotation() {
    const path = `infra/${uniqueName('retried')}/root`;
    await stack.stores.secrets.put(path, { username: 'admin', password: 'old-value' }, 'json');
    const rotationId = `rtn_${uniqueName('retry')}`;
    const row = await stack.stores.rotation.begin({
      rotation_id: rotationId,
      secret_path: path,
      policy_id: null,
      workflow_id: 'rotation-under-test',
      trigger: 'manual',
      requested_by: 'root',
    });
    expect(row).not.toBe('busy');
    const pending = await stack.stores.secrets.put(
      path,
      { username: 'admin', password: 'new-value' },
      'json',
      'pending',
    );
    await stack.stores.rotation.update(rotationId, {
      new_version: pending.version,
      previous_version: 1,
      confirm_deadline: new Date(Date.now() + 60_000),
    });
    return { path, rotationId };
  }
  const activities = () => createRotationActivities({ stores: stack.stores, publicUrl: stack.baseUrl });

  it(
    'after a failure between the promotion and its record keeps the old version to retire, ' + 'and one entry',
    async () => {
      const { path, rotationId } = await pendingRotation();
      // The first attempt dies after promoting the new value, as a worker killed mid-activity would.
      // (A sequence, not a row: its nextval survives the rollback the failure causes.)
      await stack.stores.db.query(
        `
      CREATE SEQUENCE fail_once_seq;
      CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.state = 'confirmed' AND nextval('fail_once_seq') = 1 ` +
          `THEN RAISE EXCEPTION 'worker lost mid-activity'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_once BEFORE UPDATE ON rotations FOR EACH ROW EXECUTE FUNCTION fail_once();`,
      );
      try {
        await expect(activities().confirmRotation({ rotationId, confirmedBy: 'root' })).rejects.toThrow(/worker lost/);
        expect((await stack.stores.secrets.get(path))!.version).toBe(1); // the promotion rolled back with it
        const retried = await activities().confirmRotation({ rotationId, confirmedBy: 'root' });
        expect(retried.previousVersion).toBe(1);
      } finally {
        await stack.stores.db.query(
          'DROP TRIGGER fail_once ON rotations; DROP FUNCTION fail_once(); DROP SEQUENCE fail_once_seq;',
        );
      }
      const again = await activities().confirmRotation({ rotationId, confirmedBy: 'root' });
      expect(again.previousVersion).toBe(1);
      expect(await stack.stores.rotation.get(rotationId)).toMatchObject({
        state: 'confirmed',
        previous_version: 1,
        new_version: 2,
      });
      expect((await stack.stores.secrets.get(path))!.version).toBe(2);
      expect(await entries('rotation_confirm', 'rotation_id', rotationId)).toEqual([
        { extra_data: { rotation_id: rotationId, version: 2, previous_version: 1 } },
      ]);

      await activities().completeRotation({ rotationId });
      await activities().completeRotation({ rotationId });
      expect(await stack.stores.secrets.get(path, 1)).toBeUndefined(); // retired
      expect(await entries('rotation_complete', 'rotation_id', rotationId)).toHaveLength(1);
    },
  );
});
