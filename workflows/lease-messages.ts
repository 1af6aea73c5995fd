import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { IssuedCredential, LeaseView, RenewResult } from '../lib/lease';

/** Sent with the workflow's start (update-with-start): answers once the database role exists. */
export const issueUpdate = defineUpdate<IssuedCredential>('issue');
export const renewUpdate = defineUpdate<RenewResult, [{ incrementSeconds?: number }]>('renew');
/** Answers when the role is gone, or after the first failed attempt (the workflow keeps retrying). */
export const revokeUpdate = defineUpdate<LeaseView, [{ force?: boolean }]>('revoke');
export const leaseQuery = defineQuery<LeaseView>('lease');

/** Failure types the API maps to contract errors. */
export const LeaseErrors = {
  notActive: 'LeaseNotActive',
  maxTtlExceeded: 'MaxTtlExceeded',
  issueFailed: 'IssueFailed',
  invalidIncrement: 'InvalidIncrement',
} as const;
