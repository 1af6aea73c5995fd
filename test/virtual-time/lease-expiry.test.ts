import { describe, expect, it } from 'vitest';
import { leaseQuery } from '../../workflows/lease-messages';
import { useTimeSkippingEnvironment } from './environment';
import { HOUR_MS, issueLease, leaseSpec, leaseStubs } from './lease-stubs';

const vt = useTimeSkippingEnvironment();

describe('a lease left alone, in virtual time', () => {
  it('expires after its 3-hour TTL: one revocation, for the expiry, at the expiry', async () => {
    const spec = leaseSpec({ ttlSeconds: 3 * 3600, maxTtlSeconds: 6 * 3600 });
    const { activities, calls } = leaseStubs(vt.now);
    await vt.withWorker(activities, async (taskQueue) => {
      const { issued, handle } = await issueLease(vt.env.client.workflow, taskQueue, spec);
      const expiresAtMs = Date.parse(issued.lease.issuedAt) + 3 * HOUR_MS;
      expect(issued.lease).toMatchObject({ state: 'active', expiresAt: new Date(expiresAtMs).toISOString() });

      await vt.env.sleep(3 * HOUR_MS - 60_000);
      expect((await handle.query(leaseQuery)).state).toBe('active');
      expect(calls.revocations).toEqual([]);

      const final = await handle.result();
      expect(final).toMatchObject({
        state: 'expired',
        revokeReason: 'expired',
        revokedAt: new Date(expiresAtMs).toISOString(),
      });
      expect(calls.revocations).toHaveLength(1);
      const [revocation] = calls.revocations;
      expect(revocation!.progress).toMatchObject({ state: 'active', revokeReason: 'expired' });
      expect(revocation!.atMs - expiresAtMs).toBeGreaterThanOrEqual(0);
      expect(revocation!.atMs - expiresAtMs).toBeLessThan(1000);
      expect(calls.issues).toBe(1);
      // The revocation records its own outcome: the workflow writes nothing to the store itself.
      expect(calls.recorded).toEqual([]);
    });
  });
});
