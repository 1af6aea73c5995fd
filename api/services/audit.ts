import type { Stores } from '../../store';

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

export function createAuditService(stores: Stores) {
  return {
    /** Newest first. `next_cursor` is null on the last page. */
    async query({ cursor, ...filter }: AuditFilter) {
      const logs = await stores.audit.query({ ...filter, before_id: cursor });
      return { logs, next_cursor: logs.length === filter.limit ? logs[logs.length - 1]!.id : null };
    },
    verify: () => stores.audit.verify(),
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
