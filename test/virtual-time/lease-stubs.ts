import { WithStartWorkflowOperation, type WorkflowClient } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { ended, type LeaseProgress, type LeaseSpec } from '../../lib/lease';
import type { LeaseActivities } from '../../lib/lease-activities';
import type { leaseWorkflowV2 } from '../../workflows/lease';
import { issueUpdate } from '../../workflows/lease-messages';

export const HOUR_MS = 60 * 60_000;

/** A lease spec whose id is fresh: the workflow runs only under a workflow id equal to it. */
export function leaseSpec(overrides: Partial<LeaseSpec> = {}): LeaseSpec {
  const leaseId = `lease-${randomUUID()}`;
  return {
    leaseId,
    engine: 'reporting-db',
    role: 'readonly',
    username: `v_${leaseId}`,
    identityId: 'svc:virtual-time',
    metadata: {},
    ttlSeconds: 3600,
    maxTtlSeconds: 24 * 3600,
    defaultIncrementSeconds: 3600,
    statements: { creation: [], revocation: [], renew: [] },
    ...overrides,
  };
}

export interface RevocationCall {
  /** Server (virtual) time of the call. */
  atMs: number;
  progress: LeaseProgress;
}

/**
 * Lease activities that touch no database: the role "survives" the first `failingRevocations`
 * revocations (reported as the real activity reports it, `revocation_failed` with the database's words),
 * then is gone. Every call is recorded with the server's clock.
 */
export function leaseStubs(now: () => Promise<number>, { failingRevocations = 0 } = {}) {
  const calls = {
    issues: 0,
    renewals: [] as LeaseProgress[],
    revocations: [] as RevocationCall[],
    recorded: [] as LeaseProgress[],
  };
  const activities: LeaseActivities = {
    async createCredential() {
      calls.issues++;
      return { password: 'stub-password' };
    },
    async renewCredential({ progress }) {
      calls.renewals.push(progress);
    },
    async revokeCredential() {
      throw new Error('leaseWorkflowV2 revokes through revokeAndRecord');
    },
    async revokeAndRecord({ progress }) {
      const atMs = await now();
      calls.revocations.push({ atMs, progress });
      if (calls.revocations.length <= failingRevocations) {
        return {
          roleGone: false,
          progress: { ...progress, state: 'revocation_failed', lastError: 'role "v_x" cannot be dropped' },
        };
      }
      return { roleGone: true, progress: ended(progress, atMs) };
    },
    async recordLeaseState({ progress }) {
      calls.recorded.push(progress);
    },
  };
  return { activities, calls };
}

/** Starts a lease as the API does (update-with-start with the issue update): its credential and handle. */
export async function issueLease(client: WorkflowClient, taskQueue: string, spec: LeaseSpec) {
  const start = new WithStartWorkflowOperation<typeof leaseWorkflowV2>('leaseWorkflowV2', {
    workflowId: spec.leaseId,
    taskQueue,
    args: [{ spec }],
    workflowIdConflictPolicy: 'FAIL',
  });
  const issued = await client.executeUpdateWithStart(issueUpdate, { startWorkflowOperation: start });
  return { issued, handle: await start.workflowHandle() };
}
