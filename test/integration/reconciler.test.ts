import { afterAll, describe, expect, it } from 'vitest';
import { storeId } from '../../store/bootstrap';
import type { ReconcileReport } from '../../lib/reconcile-activities';
import { withGuideStack } from '../support/guide';
import { adminQuery, roleExists, uniqueName, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
const planted: string[] = [];

withGuideStack({ withGrantOption: true }, (c) => ({ stack, target, engine } = c));
afterAll(() => Promise.all(planted.map((name) => adminQuery(`DROP ROLE IF EXISTS ${name}`))));

async function plant(comment: string | null) {
  const name = uniqueName('v_readonly');
  planted.push(name);
  await adminQuery(`CREATE ROLE ${name} LOGIN`);
  if (comment) await adminQuery(`COMMENT ON ROLE ${name} IS '${comment}'`);
  return name;
}

const runReconciler = () =>
  stack.temporal.workflow.execute('reconcileWorkflow', {
    taskQueue: stack.taskQueue,
    workflowId: uniqueName('reconcile-test'),
    args: [],
  }) as Promise<ReconcileReport[]>;

describe('the reconciler', () => {
  it("drops this store's orphaned lease roles and leaves every other role alone", async () => {
    const id = await storeId(stack.stores);
    const longAgo = new Date(Date.now() - 3600_000).toISOString();
    const orphan = await plant(`scaivault lease=lease_gone engine=${engine} store=${id} issued=${longAgo}`);
    const fresh = await plant(
      `scaivault lease=lease_mid_issue engine=${engine} store=${id} issued=${new Date().toISOString()}`,
    );
    const otherStore = await plant(`scaivault lease=lease_x engine=${engine} store=store_other issued=${longAgo}`);
    const unmarked = await plant(null);
    const live = (await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {})).body;

    const reports = await runReconciler();
    const report = reports.find((r) => r.engine === engine)!;
    expect(report.dropped).toEqual([orphan]);
    expect(await roleExists(orphan)).toBe(false);
    for (const kept of [fresh, otherStore, unmarked, live.data.username]) expect(await roleExists(kept)).toBe(true);

    const { rows } = await stack.stores.db.query(
      `SELECT identity_id, result, extra_data FROM audit_log WHERE action = 'dynamic_reconcile'`,
    );
    expect(rows).toEqual([
      expect.objectContaining({
        identity_id: 'system:dynamic-engines',
        result: 'success',
        extra_data: expect.objectContaining({ username: orphan, lease_id: 'lease_gone' }),
      }),
    ]);
  });

  it('drops a role a forced revocation left behind', async () => {
    const lease = (await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {})).body;
    const schema = `held_${lease.data.username}`;
    await adminQuery(`CREATE SCHEMA ${schema} AUTHORIZATION "${lease.data.username}"`, [], target.name);
    await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}?force=true`);
    expect(await roleExists(lease.data.username)).toBe(true);
    await adminQuery(`DROP SCHEMA ${schema}`, [], target.name);

    const report = (await runReconciler()).find((r) => r.engine === engine)!;
    expect(report.dropped).toContain(lease.data.username);
    expect(await roleExists(lease.data.username)).toBe(false);
  });
});
