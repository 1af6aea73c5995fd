import { Context } from '@temporalio/activity';

/**
 * An audit idempotency key for an event an activity records: the same for every attempt of one scheduled
 * activity (workflow id, run id, activity id), so a retry after the entry committed writes nothing.
 * Undefined outside an activity.
 */
export function activityEventKey(event: string): string | undefined {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return undefined;
  }
  const run = info.workflowExecution;
  return run && `${run.workflowId}/${run.runId}/${info.activityId}/${event}`;
}
