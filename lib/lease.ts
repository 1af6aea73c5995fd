/**
 * The lease's shape as the workflow, its activities and the API all see it. Pure types and arithmetic
 * only: the workflow sandbox imports this file.
 */

export type LeaseState = 'active' | 'revoking' | 'revoked' | 'expired' | 'revocation_failed';
export const LEASE_STATES: readonly LeaseState[] = ['active', 'revoking', 'revoked', 'expired', 'revocation_failed'];

export interface RoleStatements {
  creation: string[];
  revocation: string[];
  renew: string[];
}

/** What a lease is, fixed when it is issued. It holds no secret: it is workflow input, kept in history. */
export interface LeaseSpec {
  leaseId: string;
  engine: string;
  role: string;
  username: string;
  identityId: string;
  metadata: Record<string, string>;
  ttlSeconds: number;
  maxTtlSeconds: number;
  /** The role's default_ttl: a renew without an increment extends by this much. */
  defaultIncrementSeconds: number;
  /** Snapshotted at issue, so editing or deleting the role later cannot strand a lease's revocation. */
  statements: RoleStatements;
}

/** What changes over a lease's life; carried across continue-as-new. */
export interface LeaseProgress {
  state: LeaseState;
  issuedAt: string;
  expiresAt: string;
  maxExpiresAt: string;
  revokedAt?: string;
  lastError?: string;
  /** Why the lease is ending, once it is. */
  revokeReason?: 'revoked' | 'expired';
  /** Set when an operator forced the revocation: the database role may remain. */
  forced?: boolean;
}

export interface LeaseWorkflowInput {
  spec: LeaseSpec;
  progress?: LeaseProgress;
}

export interface LeaseView extends LeaseProgress {
  leaseId: string;
  engine: string;
  role: string;
  username: string;
  identityId: string;
  metadata: Record<string, string>;
}

export interface IssuedCredential {
  lease: LeaseView;
  /** `sealed:v1:...` (lib/lease-password.ts): only the API opens it; leases issued before that hold it plain. */
  password: string;
}

export interface RenewResult {
  lease: LeaseView;
  warnings: string[];
  /** The TTL this renewal granted (absent in renewals answered before it was reported). */
  grantedSeconds?: number;
}

/** A lease has ended once its role is gone: revoked or expired. Every other state is unfinished (its workflow runs). */
export const FINISHED_STATES: readonly LeaseState[] = ['revoked', 'expired'];
export const UNFINISHED_STATES: readonly LeaseState[] = LEASE_STATES.filter(
  (state) => !FINISHED_STATES.includes(state),
);
export const isFinished = (state: LeaseState) => FINISHED_STATES.includes(state);

/** Whole seconds: `VALID UNTIL` and `expires_at` always name the same instant. */
export const truncateToSecond = (ms: number) => Math.floor(ms / 1000) * 1000;

/** How an ending lease ends: `expired` when its TTL ran out, `revoked` when someone asked. */
export const endingState = (progress: LeaseProgress): 'expired' | 'revoked' =>
  progress.revokeReason === 'expired' ? 'expired' : 'revoked';

/** The lease as recorded once its role is gone (or an operator ended it): its final state and when. */
export const ended = (progress: LeaseProgress, nowMs: number): LeaseProgress => ({
  ...progress,
  state: endingState(progress),
  revokedAt: new Date(truncateToSecond(nowMs)).toISOString(),
});

/** The renewal rule: extend from now by the increment, never past the lease's max. */
export function plannedRenewal(nowMs: number, incrementSeconds: number, current: LeaseProgress) {
  const max = Date.parse(current.maxExpiresAt);
  const wanted = truncateToSecond(nowMs + incrementSeconds * 1000);
  const expiresAt = Math.min(wanted, max);
  const capped = wanted > max;
  // The TTL granted, as Vault's lease_duration: the increment itself, or what is left to the max.
  const grantedSeconds = capped ? Math.max(0, Math.round((expiresAt - nowMs) / 1000)) : incrementSeconds;
  return { expiresAtMs: expiresAt, capped, extends: expiresAt > Date.parse(current.expiresAt), grantedSeconds };
}
