import { describe, expect, it } from 'vitest';
import { rotationWorkflowId, type RotationActivities, type RotationWorkflowInput } from '../../lib/rotation-activities';
import type { rotationWorkflow } from '../../workflows/rotation';
import { confirmUpdate, rotationQuery } from '../../workflows/rotation-messages';
import { useTimeSkippingEnvironment } from './environment';

const vt = useTimeSkippingEnvironment();

const HOUR_MS = 60 * 60_000;
const GRACE_SECONDS = 24 * 3600;

/** Rotation activities that store nothing: each call is recorded with the server's (virtual) clock. */
function rotationStubs() {
  const calls: { name: keyof RotationActivities; atMs: number }[] = [];
  const at = async (name: keyof RotationActivities) => void calls.push({ name, atMs: await vt.now() });
  const activities: RotationActivities = {
    async beginRotation() {
      await at('beginRotation');
      return { outcome: 'started', newVersion: 2, graceSeconds: GRACE_SECONDS };
    },
    async prepareDeliveries() {
      return [];
    },
    async deliverWebhook() {},
    async markDeliveryFailed() {},
    async confirmRotation() {
      await at('confirmRotation');
      return { previousVersion: 1 };
    },
    async expireRotation() {
      await at('expireRotation');
    },
    async completeRotation() {
      await at('completeRotation');
    },
  };
  const timeOf = (name: keyof RotationActivities) => calls.find((call) => call.name === name)?.atMs;
  return { activities, calls, timeOf };
}

async function startRotation(taskQueue: string) {
  const input: RotationWorkflowInput = {
    secretPath: 'infra/reporting-db/root',
    trigger: 'manual',
    requestedBy: 'root',
  };
  const handle = await vt.env.client.workflow.start<typeof rotationWorkflow>('rotationWorkflow', {
    workflowId: rotationWorkflowId(taskQueue, input.secretPath),
    taskQueue,
    args: [input],
  });
  await expect.poll(async () => (await handle.query(rotationQuery)).state).toBe('pending');
  return handle;
}

/** `later - earlier` is `expectedMs` of virtual time, give or take the real milliseconds the workflow tasks took. */
function expectElapsed(earlier: number | undefined, later: number | undefined, expectedMs: number) {
  expect(later! - earlier!).toBeGreaterThanOrEqual(expectedMs);
  expect(later! - earlier!).toBeLessThan(expectedMs + 1000);
}

describe('a rotation, in virtual time', () => {
  it('nobody confirms: the pending version is retired when the 24-hour grace period closes', async () => {
    const { activities, calls, timeOf } = rotationStubs();
    await vt.withWorker(activities, async (taskQueue) => {
      const handle = await startRotation(taskQueue);
      await vt.env.sleep(GRACE_SECONDS * 1000 - HOUR_MS);
      expect((await handle.query(rotationQuery)).state).toBe('pending');

      expect(await handle.result()).toMatchObject({ state: 'expired', newVersion: 2 });
      expect(calls.map((call) => call.name)).toEqual(['beginRotation', 'expireRotation']);
      expectElapsed(timeOf('beginRotation'), timeOf('expireRotation'), GRACE_SECONDS * 1000);
    });
  });

  it(
    'confirmed after 2 hours: the previous version stays readable for the grace period after the confirmation, ' +
      'then is retired',
    async () => {
      const { activities, calls, timeOf } = rotationStubs();
      await vt.withWorker(activities, async (taskQueue) => {
        const handle = await startRotation(taskQueue);
        await vt.env.sleep(2 * HOUR_MS);
        const confirmed = await handle.executeUpdate(confirmUpdate, { args: [{ identityId: 'svc:dba' }] });
        expect(confirmed).toMatchObject({ state: 'confirmed', newVersion: 2, previousVersion: 1 });

        await vt.env.sleep(GRACE_SECONDS * 1000 - HOUR_MS);
        expect((await handle.query(rotationQuery)).state).toBe('confirmed');

        expect(await handle.result()).toMatchObject({ state: 'completed', newVersion: 2, previousVersion: 1 });
        expect(calls.map((call) => call.name)).toEqual(['beginRotation', 'confirmRotation', 'completeRotation']);
        expect(timeOf('confirmRotation')! - timeOf('beginRotation')!).toBeGreaterThanOrEqual(2 * HOUR_MS);
        expectElapsed(timeOf('confirmRotation'), timeOf('completeRotation'), GRACE_SECONDS * 1000);
      });
    },
  );
});
