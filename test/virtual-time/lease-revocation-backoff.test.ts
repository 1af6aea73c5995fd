import { tsToMs } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { revokeUpdate } from '../../workflows/lease-messages';
import { useTimeSkippingEnvironment } from './environment';
import { issueLease, leaseSpec, leaseStubs } from './lease-stubs';

const vt = useTimeSkippingEnvironment();

/** Doubling from 5 s, capped at 5 minutes: the role survives 8 attempts, so the cap is reached and held. */
const EXPECTED_BACKOFF_SECONDS = [5, 10, 20, 40, 80, 160, 300, 300];

describe('a revocation the database refuses, in virtual time', () => {
  it('is retried with doubling backoff up to the 5-minute cap until the role is gone', async () => {
    const spec = leaseSpec();
    const { activities, calls } = leaseStubs(vt.now, { failingRevocations: EXPECTED_BACKOFF_SECONDS.length });
    await vt.withWorker(activities, async (taskQueue) => {
      const { handle } = await issueLease(vt.env.client.workflow, taskQueue, spec);

      // A revoke answers after the first failed attempt; the workflow keeps trying.
      const answered = await handle.executeUpdate(revokeUpdate, { args: [{}] });
      expect(answered).toMatchObject({
        state: 'revocation_failed',
        revokeReason: 'revoked',
        lastError: 'role "v_x" cannot be dropped',
      });

      const final = await handle.result();
      expect(final).toMatchObject({ state: 'revoked', revokeReason: 'revoked' });
      expect(final.forced).toBeUndefined();

      expect(calls.revocations).toHaveLength(EXPECTED_BACKOFF_SECONDS.length + 1);
      const gapsSeconds = calls.revocations
        .slice(1)
        .map((call, i) => Math.round((call.atMs - calls.revocations[i]!.atMs) / 1000));
      expect(gapsSeconds).toEqual(EXPECTED_BACKOFF_SECONDS);
      expect(calls.revocations.map((call) => call.progress.state)).toEqual([
        'active',
        ...EXPECTED_BACKOFF_SECONDS.map(() => 'revocation_failed'),
      ]);

      // The workflow's own record of its waits: the lease's expiry timer (cut short by the revoke), then
      // exactly the backoff.
      const { events } = await handle.fetchHistory();
      const [expiry, ...backoff] = (events ?? []).flatMap((event) =>
        event.timerStartedEventAttributes ? [tsToMs(event.timerStartedEventAttributes.startToFireTimeout) / 1000] : [],
      );
      expect(expiry).toBeGreaterThan(spec.ttlSeconds - 1);
      expect(expiry).toBeLessThanOrEqual(spec.ttlSeconds);
      expect(backoff).toEqual(EXPECTED_BACKOFF_SECONDS);
    });
  });
});
