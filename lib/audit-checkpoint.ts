/**
 * The audit chain's newest link, signed with the audit chain's key: what the log held at `at`. Kept in
 * Temporal, where an edit of the store's tables cannot reach it, so `audit verify` can tell a log whose
 * newest entries were deleted from one that simply has not grown.
 */
export interface AuditCheckpoint {
  last_id: string;
  hash: string;
  at: string;
  key_id: string;
  mac: string;
}

/** The id of the workflow that keeps a store's checkpoints: one per store, whatever the task queue. */
export const auditCheckpointWorkflowId = (storeId: string) => `scaivault-audit-checkpoints-${storeId}`;

/** Whether `candidate` is at least as far along the chain as `current`. */
export const isNewerCheckpoint = (candidate: AuditCheckpoint, current: AuditCheckpoint | undefined) =>
  current === undefined || BigInt(candidate.last_id) >= BigInt(current.last_id);
