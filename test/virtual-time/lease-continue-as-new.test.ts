import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { abandonSignal, leaseQuery, renewUpdate } from '../../workflows/lease-messages';
import { useTimeSkippingEnvironment } from './environment';
import { HOUR_MS, issueLease, leaseSpec, leaseStubs } from './lease-stubs';

const vt = useTimeSkippingEnvironment();

/** The workflow's MAX_UPDATES_PER_RUN. */
const UPDATES_PER_RUN = 250;

const runOf = async (handle: WorkflowHandle) => {
  const { runId, status } = await handle.describe();
  return { runId, status: status.name };
};

describe('a lease renewed many times', () => {
  it('continues as new after its 250th update, and the lease carries on in the new run', async () => {
    const spec = leaseSpec({ ttlSeconds: 3600, maxTtlSeconds: 30 * 24 * 3600 });
    const { activities, calls } = leaseStubs(vt.now);
    await vt.withWorker(activities, async (taskQueue) => {
      const client = vt.env.client.workflow;
      const { issued, handle } = await issueLease(client, taskQueue, spec);
      // The time-skipping server's update-with-start answer names no run id, so the handle has none: ask for it.
      const firstRunId = (await handle.describe()).runId;
      const firstRun = client.getHandle(spec.leaseId, firstRunId, { followRuns: false });
      const renew = () =>
        firstRun.executeUpdate(renewUpdate, { args: [{ incrementSeconds: 2 * 3600, requestedBy: 'svc:renewer' }] });

      // Sent together, to save wall time: the workflow takes them one at a time anyway.
      const renewed = await Promise.all(Array.from({ length: UPDATES_PER_RUN - 1 }, renew));
      const leastExpiry = Date.parse(issued.lease.issuedAt) + 2 * HOUR_MS;
      expect(
        renewed.filter(({ lease }) => lease.state === 'active' && Date.parse(lease.expiresAt) >= leastExpiry),
      ).toHaveLength(UPDATES_PER_RUN - 1);
      expect((await runOf(firstRun)).status).toBe('RUNNING');

      const lastOfRun = await renew();
      await expect.poll(async () => (await runOf(firstRun)).status, { timeout: 5_000 }).toBe('CONTINUED_AS_NEW');
      const firstHistory = (await firstRun.fetchHistory()).events ?? [];
      const accepted = firstHistory.flatMap(
        (event) => event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ?? [],
      );
      expect(accepted.filter((name) => name === 'renew')).toHaveLength(UPDATES_PER_RUN);
      expect(firstHistory.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();

      // The new run holds the lease exactly as the last renewal left it, takes renewals, and issues nothing again.
      const latest = client.getHandle(spec.leaseId);
      const secondRun = await runOf(latest);
      expect(secondRun.runId).not.toBe(firstRunId);
      const [started] = (await latest.fetchHistory()).events ?? [];
      expect(started?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId).toBe(firstRunId);
      expect(await latest.query(leaseQuery)).toEqual(lastOfRun.lease);
      const renewedInNewRun = await latest.executeUpdate(renewUpdate, { args: [{ requestedBy: 'svc:renewer' }] });
      expect(renewedInNewRun.lease).toMatchObject({ state: 'active', issuedAt: issued.lease.issuedAt });
      expect(calls.renewals).toHaveLength(UPDATES_PER_RUN + 1);
      expect(calls.issues).toBe(1);

      await latest.signal(abandonSignal, { requestedBy: 'svc:renewer' });
      expect(await latest.result()).toMatchObject({ state: 'revoked', issuedAt: issued.lease.issuedAt });
      expect(calls.revocations).toHaveLength(1);
      expect((await runOf(latest)).runId).toBe(secondRun.runId);
    });
  });
});
