import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

export const reconcileScheduleId = (taskQueue: string) => `scaivault-reconcile-${taskQueue}`;

/** The reconciler runs every ten minutes; creating the schedule again is a no-op. */
export async function ensureReconcileSchedule(client: Client, taskQueue: string, every = '10m'): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: reconcileScheduleId(taskQueue),
      spec: { intervals: [{ every }] },
      action: { type: 'startWorkflow', workflowType: 'reconcileWorkflow', taskQueue, workflowId: `reconcile-${taskQueue}` },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
}
