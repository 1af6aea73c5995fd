import type { Stores } from '../../store';
import type { AuditCheckpoints } from '../audit-checkpoints';

export const MAX_AUDIT_PAGE = 1000;

export interface AuditFilter {
  action?: string;
  identity_id?: string;
  since?: Date;
  until?: Date;
  limit: number;
  /** An entry id from a previous page's `next_cursor`: the page continues with older entries. */
  cursor?: string;
}

export function createAuditService(stores: Pick<Stores, 'audit'>, checkpoints: Pick<AuditCheckpoints, 'latest'>) {
  return {
    /** Newest first. `next_cursor` is null on the last page. */
    async query({ cursor, ...filter }: AuditFilter) {
      const logs = await stores.audit.query({ ...filter, before_id: cursor });
      return { logs, next_cursor: logs.length === filter.limit ? logs[logs.length - 1]!.id : null };
    },
    /** The chain from its start, and its head against the newest checkpoint Temporal holds. */
    async verify() {
      let checkpoint;
      try {
        checkpoint = await checkpoints.latest();
      } catch (error) {
        return {
          ...(await stores.audit.verify()),
          checkpoint_unavailable: `Temporal did not answer: ${(error as Error).message}`,
        };
      }
      return { ...(await stores.audit.verify(checkpoint)), ...(checkpoint ? {} : { checkpoint: null }) };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
