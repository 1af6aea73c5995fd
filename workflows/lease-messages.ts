import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { IssuedCredential, LeaseView, RenewResult } from '../lib/lease';

/** Sent with the workflow's start (update-with-start): answers once the database role exists. */
export const issueUpdate = defineUpdate<IssuedCredential>('issue');
/** `requestedBy` is the identity the renewal's audit entry names (the lease's creator when absent). */
export const renewUpdate = defineUpdate<RenewResult, [{ incrementSeconds?: number; requestedBy?: string }]>('renew');
/** Answers when the role is gone, or after the first failed attempt (the workflow keeps retrying). */
export const revokeUpdate = defineUpdate<LeaseView, [{ force?: boolean }]>('revoke');
export const leaseQuery = defineQuery<LeaseView>('lease');
/**
 * Revoke with no one waiting for the answer. A signal is recorded even while no worker runs, so a caller
 * that gave up waiting (an issue or revoke that timed out) still gets its lease revoked once one does.
 */
export const abandonSignal = defineSignal<[request?: { requestedBy?: string }]>('abandon');

/** Failure types the API maps to contract errors. */
export const LeaseErrors = {
  notActive: 'LeaseNotActive',
  maxTtlExceeded: 'MaxTtlExceeded',
  issueFailed: 'IssueFailed',
  invalidIncrement: 'InvalidIncrement',
  inputMismatch: 'InputMismatch',
} as const;
