import { proxyActivities } from '@temporalio/workflow';
import type { ReconcileActivities, ReconcileReport } from '../lib/reconcile-activities';

const reconcile = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '5s', maximumAttempts: 3 },
});

/**
 * Runs on a schedule: finds database roles this store's leases created that no live lease accounts for
 * (a crash outside the product, a restored backup, a forced revoke, lost workflow state) and drops them.
 */
export async function reconcileWorkflow(): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  for (const engine of await reconcile.listEngines()) {
    reports.push(
      await reconcile
        .reconcileEngine({ engine })
        .catch((error: Error) => ({ engine, dropped: [], failed: [], error: error.message })),
    );
  }
  return reports;
}
