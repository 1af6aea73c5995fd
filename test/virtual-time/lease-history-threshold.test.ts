import { describe, expect, it } from 'vitest';
import { abandonSignal } from '../../workflows/lease-messages';
import { useTimeSkippingEnvironment } from './environment';
import { issueLease, leaseSpec, leaseStubs } from './lease-stubs';

const vt = useTimeSkippingEnvironment();

/** The workflow's own bound on one run's history (workflows/lease.ts); the server suggests moving on sooner. */
const MAX_HISTORY_EVENTS_PER_RUN = 10_000;
/** Enough failed attempts (a marker and a timer each, plus their workflow tasks) for the server's suggestion. */
const FAILED_ATTEMPTS = 800;

describe('a revocation the database refuses for days, in virtual time', () => {
  it('continues as new when the server suggests it, before its 10,000-event bound, and keeps revoking', async () => {
    const spec = leaseSpec();
    const { activities, calls } = leaseStubs(vt.now, { failingRevocations: FAILED_ATTEMPTS });
    await vt.withWorker(activities, async (taskQueue) => {
      const client = vt.env.client.workflow;
      const { handle } = await issueLease(client, taskQueue, spec);
      const firstRunId = (await handle.describe()).runId;
      await handle.signal(abandonSignal, { requestedBy: 'svc:stuck' });

      const final = await client.getHandle(spec.leaseId).result();
      expect(final).toMatchObject({ state: 'revoked', revokeReason: 'revoked' });
      expect(calls.revocations).toHaveLength(FAILED_ATTEMPTS + 1);

      const firstRun = client.getHandle(spec.leaseId, firstRunId, { followRuns: false });
      const { status, historyLength } = await firstRun.describe();
      expect(status.name).toBe('CONTINUED_AS_NEW');
      expect(historyLength).toBeLessThanOrEqual(MAX_HISTORY_EVENTS_PER_RUN);
      const tasks = ((await firstRun.fetchHistory()).events ?? []).flatMap(
        (event) => event.workflowTaskStartedEventAttributes ?? [],
      );
      const suggested = tasks.findIndex((task) => task.suggestContinueAsNew);
      // Moved on at the first task that carried the suggestion (the task after it closes the run).
      expect(suggested).toBeGreaterThan(0);
      expect(tasks.length - suggested).toBeLessThanOrEqual(2);
      const lastRun = await client.getHandle(spec.leaseId).describe();
      expect(lastRun.runId).not.toBe(firstRunId);
      // The next run starts where the last left off: the lease's failed state, not a fresh issue.
      expect(calls.issues).toBe(1);
      const stuckFor = calls.revocations.at(-1)!.atMs - calls.revocations[0]!.atMs;
      expect(stuckFor).toBeGreaterThan(2 * 24 * 3600_000);
    });
  }, 120_000);
});
