import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  RotationErrors,
  type RotationActivities,
  type RotationView,
  type RotationWorkflowInput,
  type DeliveryTask,
} from '../lib/rotation-activities';
import { confirmUpdate, rotationQuery, secretDeletedSignal, startedUpdate } from './rotation-messages';

/** The product's own store: retried until it answers. */
const store = proxyActivities<RotationActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});
/** A receiver that is down gets the event again with backoff, for about twenty minutes. */
const webhooks = proxyActivities<RotationActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 12 },
});

/**
 * One rotation of one secret: a new value is generated and stored as `pending`, receivers are told, and
 * the rotation waits (up to the grace period) for someone to confirm the database took it. Confirmed, the
 * new value becomes current and the old one stays readable as `previous` for the grace period, then is
 * retired. Unconfirmed, the pending value is retired and the current one never changed.
 */
export async function rotationWorkflow(input: RotationWorkflowInput): Promise<RotationView> {
  const rotationId = `rtn_${uuid4().replace(/-/g, '')}`;
  let view: RotationView = { rotationId, secretPath: input.secretPath, state: 'starting' };
  let confirmedBy: string | undefined;
  let secretDeleted = false;

  setHandler(rotationQuery, () => view);
  setHandler(secretDeletedSignal, () => void (secretDeleted = true));

  setHandler(startedUpdate, async () => {
    await condition(() => view.state !== 'starting');
    if (view.state === 'busy')
      throw ApplicationFailure.nonRetryable(`a rotation of ${input.secretPath} is in progress`, RotationErrors.busy);
    if (view.state === 'failed')
      throw ApplicationFailure.nonRetryable(view.error ?? 'rotation failed', RotationErrors.failed);
    return view;
  });

  setHandler(
    confirmUpdate,
    async ({ identityId }) => {
      confirmedBy ??= identityId;
      await condition(() => view.state !== 'pending');
      return view;
    },
    {
      validator: (_confirmation) => {
        if (view.state !== 'pending' || confirmedBy !== undefined) {
          throw ApplicationFailure.nonRetryable(
            `rotation ${rotationId} is ${view.state}, not awaiting confirmation`,
            RotationErrors.notPending,
          );
        }
      },
    },
  );

  const begun = await store.beginRotation({ ...input, rotationId, workflowId: workflowInfo().workflowId });
  if (begun.outcome === 'busy') return finish({ ...view, rotationId: begun.rotationId, state: 'busy' });
  if (begun.outcome === 'failed') return finish({ ...view, state: 'failed', error: begun.error });
  view = { ...view, state: 'pending', newVersion: begun.newVersion };
  const graceMs = begun.graceSeconds * 1000;

  const tasks = await store.prepareDeliveries({ rotationId, secretPath: input.secretPath, version: begun.newVersion });
  const deliveries = Promise.all(tasks.map(deliver));

  await condition(() => confirmedBy !== undefined || secretDeleted, graceMs);
  if (secretDeleted && confirmedBy === undefined) {
    view = { ...view, state: 'failed', error: 'the secret was deleted' };
  } else if (confirmedBy === undefined) {
    await store.expireRotation({ rotationId });
    view = { ...view, state: 'expired' };
  } else {
    const { previousVersion, failed } = await store.confirmRotation({ rotationId, confirmedBy });
    if (failed !== undefined) {
      view = { ...view, state: 'failed', error: failed };
    } else {
      view = { ...view, state: 'confirmed', previousVersion };
      await condition(() => secretDeleted, graceMs);
      await store.completeRotation({ rotationId });
      view = { ...view, state: 'completed' };
    }
  }
  // Deliveries of an event about a deleted secret are left to fail: nobody can act on it.
  if (!secretDeleted) await deliveries;
  return finish(view);

  async function finish(final: RotationView): Promise<RotationView> {
    view = final;
    await condition(allHandlersFinished);
    return view;
  }
}

/** Delivers one event, retried with backoff; a delivery that never succeeds is recorded as failed. */
async function deliver(task: DeliveryTask): Promise<void> {
  try {
    await webhooks.deliverWebhook(task);
  } catch {
    await store.markDeliveryFailed({ deliveryId: task.deliveryId });
  }
}
