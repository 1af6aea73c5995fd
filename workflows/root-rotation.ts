import { proxyActivities, uuid4, workflowInfo } from '@temporalio/workflow';
import type { RootRotationActivities, RootRotationInput, RootRotationOutcome } from '../lib/root-rotation-activities';

/** The store and the database: retried until they answer (a refusal is an answer, not an error). */
const steps = proxyActivities<RootRotationActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/**
 * An engine changes its own root password, durably: the new value is written as `pending` (the current one
 * still works), the database takes it (the engine's pools fall back to the pending value while they
 * disagree), then it becomes current and the old one is retired. A worker that dies at any step leaves
 * the next one to carry on; nothing depends on the HTTP request that asked.
 */
export async function rootRotationWorkflow(input: RootRotationInput): Promise<RootRotationOutcome> {
  const begun = await steps.beginRootRotation({
    ...input,
    rotationId: `rtn_${uuid4().replace(/-/g, '')}`,
    workflowId: workflowInfo().workflowId,
  });
  if (begun.outcome === 'busy') return { state: 'busy', rotationId: begun.rotationId };
  if (begun.outcome === 'failed') return { state: 'failed', error: begun.error };
  const { refused } = await steps.applyRootPassword({ engine: input.engine, rotationId: begun.rotationId });
  return steps.finishRootRotation({ ...input, rotationId: begun.rotationId, refused });
}
