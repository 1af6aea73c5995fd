import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

export const reconcileScheduleId = (taskQueue: string) => `scaivault-reconcile-${taskQueue}`;

/** The reconciler runs every ten minutes; creating the schedule again is a no-op. */
export async function ensureReconcileSchedule(client: Client, taskQueue: string, every = '10m'): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: reconcileScheduleId(taskQueue),
      spec: { intervals: [{ every }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'reconcileWorkflow',
        taskQueue,
        workflowId: `reconcile-${taskQueue}`,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
}

export const rotationScheduleId = (taskQueue: string, secretPath: string) =>
  `scaivault-rotation-${taskQueue}-${secretPath}`;

/**
 * The schedule that starts a secret's rotation every `intervalSeconds`: created, or updated when the
 * secret moves to another policy. Overlap SKIP: a rotation still in its grace period is never doubled.
 */
export async function ensureRotationSchedule(
  client: Client,
  taskQueue: string,
  secretPath: string,
  intervalSeconds: number,
  workflowId: string,
): Promise<string> {
  const scheduleId = rotationScheduleId(taskQueue, secretPath);
  // Intervals are aligned to the Unix epoch; the offset makes the first rotation one interval from now.
  const offsetSeconds = Math.floor(Date.now() / 1000) % intervalSeconds;
  const spec = { intervals: [{ every: `${intervalSeconds}s`, offset: `${offsetSeconds}s` }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'rotationWorkflow',
    taskQueue,
    workflowId,
    args: [{ secretPath, trigger: 'schedule', requestedBy: 'system:rotation' }],
  };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP } });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
  }
  return scheduleId;
}
