import type { LeaseProgress, LeaseSpec } from './lease';

/** The activities a lease workflow calls. The worker's implementations satisfy this; the workflow sees only it. */
export interface LeaseActivities {
  /** Runs the creation statements in one transaction and records the lease. Idempotent across retries. */
  createCredential(input: { spec: LeaseSpec; progress: LeaseProgress }): Promise<{ password: string }>;
  /**
   * Runs the renew statements, moving `VALID UNTIL`, and records the new expiry with its audit entry (for
   * `requestedBy`).
   */
  renewCredential(input: { spec: LeaseSpec; progress: LeaseProgress; requestedBy?: string }): Promise<void>;
  /** Ends the role's sessions, runs the revocation statements, and reports whether the role is gone. */
  revokeCredential(input: { spec: LeaseSpec }): Promise<{ roleGone: boolean; errors: string[] }>;
  /**
   * Ends the role's sessions, runs the revocation statements and records what came of it in one step:
   * the final state (`revoked` or `expired`, with the expiry's audit entry) once the role is gone, or
   * `revocation_failed` with the database's words when it is not (once per new error). Nothing is recorded
   * for a lease whose issue failed (`record: false`).
   */
  revokeAndRecord(input: {
    spec: LeaseSpec;
    progress: LeaseProgress;
    record: boolean;
    requestedBy?: string;
  }): Promise<RevocationOutcome>;
  /** Writes the lease's state to the store, with an audit entry when the workflow itself acted. */
  recordLeaseState(input: { spec: LeaseSpec; progress: LeaseProgress; audit?: LeaseAuditEvent }): Promise<void>;
}

export interface RevocationOutcome {
  roleGone: boolean;
  /** The engine is gone altogether: the lease ended without reaching its database (final; not retried). */
  engineGone?: boolean;
  /** The lease's progress as recorded (unchanged when nothing was recorded). */
  progress: LeaseProgress;
}

/** The audit entry an ending lease's outcome gets from the workflow: an expiry has no caller to record it. */
export function endingAudit(progress: LeaseProgress, failure?: string): LeaseAuditEvent | undefined {
  const action = progress.revokeReason === 'expired' ? 'dynamic_expire' : 'dynamic_revoke';
  if (failure !== undefined) return { action, result: 'failure', error: failure };
  return action === 'dynamic_expire' ? { action, result: 'success' } : undefined;
}

export interface LeaseAuditEvent {
  action: 'dynamic_expire' | 'dynamic_revoke';
  result: 'success' | 'failure';
  error?: string;
  /** Who acted, when not the lease's creator (a revocation asked for without waiting). */
  identityId?: string;
}

/** Non-retryable failure types raised by the activities. */
export const ActivityErrors = {
  statementFailed: 'StatementFailed',
  engineGone: 'EngineGone',
} as const;
