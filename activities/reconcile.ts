import { isFinished } from '../lib/lease';
import type { ReconcileActivities } from '../lib/reconcile-activities';
import { dropRole, markedRoles } from '../engine/statements';
import type { TargetPools } from '../engine/target-pools';
import type { Stores } from '../store';
import type { LeaseRecord } from '../store/leases';
import { DEFAULT_REVOCATION_STATEMENTS } from '../lib/templates';
import { ENGINE_IDENTITY } from '../lib/access';

/** Lease rows read per query: a target with 100,000 live roles costs 100 reads, not 100,000. */
const LEASES_PER_READ = 1000;

export interface ReconcileDeps {
  targets: TargetPools;
  stores: Pick<Stores, 'engines' | 'leases' | 'roles' | 'audited'>;
  storeId: string;
  /** A role younger than this with no lease row may be mid-issue: its lease row is written just after. */
  graceSeconds?: number;
}

export function createReconcileActivities({
  targets,
  stores,
  storeId,
  graceSeconds = 600,
}: ReconcileDeps): ReconcileActivities {
  return {
    listEngines: async () => (await stores.engines.listForRevocation()).map((e) => e.name),

    async reconcileEngine({ engine }) {
      const report = { engine, dropped: [] as string[], failed: [] as { username: string; error: string }[] };
      const cutoff = Date.now() - graceSeconds * 1000;
      const candidates = (await targets.withClient(engine, markedRoles)).filter(
        (r) => r.marker.storeId === storeId && r.marker.engine === engine,
      );
      const leases = new Map<string, LeaseRecord>();
      for (let i = 0; i < candidates.length; i += LEASES_PER_READ) {
        const ids = candidates.slice(i, i + LEASES_PER_READ).map((c) => c.marker.leaseId);
        for (const [id, lease] of await stores.leases.getMany(ids)) leases.set(id, lease);
      }
      for (const { username, marker } of candidates) {
        const lease = leases.get(marker.leaseId);
        const orphaned = lease
          ? isFinished(lease.state) || (lease.state === 'active' && lease.expires_at.getTime() < cutoff)
          : Date.parse(marker.issuedAt) < cutoff;
        if (!orphaned) continue;
        const role = lease && (await stores.roles.get(engine, lease.role));
        const outcome = await targets.withClient(engine, (client) =>
          dropRole(client, role?.revocation_statements ?? DEFAULT_REVOCATION_STATEMENTS, username),
        );
        const error = outcome.errors.map((e) => e.message).join('; ');
        if (outcome.roleGone) report.dropped.push(username);
        else report.failed.push({ username, error });
        const markExpired = outcome.roleGone && lease && !isFinished(lease.state);
        await stores.audited(
          async (tx) => {
            if (markExpired) await stores.leases.within(tx).markFinished(lease.lease_id, 'expired');
          },
          {
            identity_id: ENGINE_IDENTITY,
            action: 'dynamic_reconcile',
            path: `dynamic/${engine}/creds/${lease?.role ?? 'unknown'}`,
            result: outcome.roleGone ? 'success' : 'failure',
            extra_data: {
              lease_id: marker.leaseId,
              username,
              lease_state: lease?.state ?? 'unknown',
              ...(error ? { error } : {}),
            },
          },
        );
      }
      return report;
    },
  };
}
