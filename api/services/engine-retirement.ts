import type { TargetPools } from '../../engine/target-pools';
import type { Identity } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import type { Stores } from '../../store';
import { engineAuditEntry } from './engines';
import type { LeaseService } from './leases';

export interface EngineRetirementDeps {
  stores: Pick<Stores, 'engines' | 'leases' | 'audited'>;
  leases: Pick<LeaseService, 'revokeMany'>;
  targets: Pick<TargetPools, 'drop'>;
}

/**
 * Deleting an engine: its leases first, then the engine. Built after the engine and lease services, from
 * both, so neither needs the other.
 */
export function createEngineRetirement({ stores, leases, targets }: EngineRetirementDeps) {
  return {
    /**
     * Refuses while leases are live unless forced. The engine is first marked deleted: from then on it
     * issues nothing (an issue under way finishes first), so no lease slips past the revocation that
     * follows. Its tombstone goes once every lease of it is revoked; until then a retry of the delete
     * revokes what is left.
     */
    async delete(actor: Identity, name: string, force: boolean) {
      const engine = await stores.engines.getForRevocation(name);
      if (!engine) throw notFound(`engine ${name}`);
      const live = await stores.leases.unfinished({ engine: name });
      if (live.length && !force && !engine.deleted_at) {
        throw new ApiError(
          'conflict',
          `engine ${name} has ${live.length} active lease(s); revoke them or pass ?force=true`,
        );
      }
      await stores.audited(
        (tx) => stores.engines.within(tx).tombstone(name),
        (marked) => (marked ? engineAuditEntry(actor, name, { operation: 'delete', force }) : undefined),
      );
      const remaining = await stores.leases.unfinished({ engine: name });
      if (remaining.length) {
        const result = await leases.revokeMany(actor, remaining);
        if (result.pending.length) {
          throw new ApiError(
            'conflict',
            `${result.pending.length} lease(s) could not be revoked yet; ` +
              'the engine issues nothing and is removed once they are',
            {
              pending: result.pending,
            },
          );
        }
      }
      await stores.engines.purgeTombstone(name);
      await targets.drop(name);
    },
  };
}

export type EngineRetirement = ReturnType<typeof createEngineRetirement>;
