import { sleep } from '@temporalio/workflow';
import type { LeaseView, LeaseWorkflowInput } from '../../lib/lease';
import { leaseWorkflow as currentLeaseWorkflow } from '../../workflows/lease';

/**
 * The workflows as a careless change would leave them: the lease workflow now pauses before it creates
 * the role. New leases would run fine; a lease already running has a history that says otherwise, and
 * replay must refuse it. Only the replay test bundles this module.
 */
export async function leaseWorkflow(input: LeaseWorkflowInput): Promise<LeaseView> {
  await sleep('1 second');
  return currentLeaseWorkflow(input);
}

export { reconcileWorkflow } from '../../workflows/reconcile';
