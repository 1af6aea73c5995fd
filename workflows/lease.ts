import {
  type ActivityOptions,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import {
  ended,
  isFinished,
  plannedRenewal,
  truncateToSecond,
  type IssuedCredential,
  type LeaseProgress,
  type LeaseView,
  type LeaseWorkflowInput,
} from '../lib/lease';
import {
  ActivityErrors,
  endingAudit,
  type LeaseActivities,
  type LeaseAuditEvent,
  type RevocationOutcome,
} from '../lib/lease-activities';
import { leaseSearchAttributes } from '../lib/search-attributes';
import { abandonSignal, issueUpdate, leaseQuery, LeaseErrors, renewUpdate, revokeUpdate } from './lease-messages';

/** Issuing answers a waiting caller: give up after a few quick tries and report the database's error. */
const issuingOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumAttempts: 3, nonRetryableErrorTypes: [ActivityErrors.statementFailed] },
};
const issuing = proxyActivities<LeaseActivities>(issuingOptions);
/**
 * The same, as a local activity: a few milliseconds of SQL need no trip through the server's activity
 * queue, which measured at about half of a mint's time (bench/). Role creation is idempotent, so the
 * re-run a local activity gets after a worker crash is safe.
 */
const issuingLocally = proxyLocalActivities<LeaseActivities>(issuingOptions);
const LOCAL_ISSUE_PATCH = 'issue-as-local-activity';
const database = proxyActivities<LeaseActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
});
/** The product's own store: retried until it answers. */
const store = proxyActivities<LeaseActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** Revocation, as a local activity; its own retries are few, the workflow's backoff loop does the rest. */
const revoking = proxyLocalActivities<LeaseActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
});
const LOCAL_REVOKE_PATCH = 'revoke-as-local-activity';
const MAX_REVOKE_BACKOFF_MS = 5 * 60_000;
const MAX_UPDATES_PER_RUN = 250;
const MAX_HISTORY_EVENTS_PER_RUN = 10_000;

/**
 * One lease, from the database role's creation to its removal. The role is created when the workflow
 * starts; the workflow then sleeps until the lease expires or a renew or revoke arrives, and ends only
 * once the role is gone from the database (or an operator forces it).
 *
 * Every lease the API starts runs this type: the story with every change applied, so it records no
 * patch markers (each `patched()` call costs a lease a marker, a search-attribute upsert and a
 * visibility write; bench/README.md).
 */
export async function leaseWorkflowV2(input: LeaseWorkflowInput): Promise<LeaseView> {
  return lease(input, () => true);
}

/** Leases started before `leaseWorkflowV2`: they keep the code paths their recorded patch markers chose. */
export async function leaseWorkflow(input: LeaseWorkflowInput): Promise<LeaseView> {
  return lease(input, patched);
}

async function lease(
  { spec, progress: carried }: LeaseWorkflowInput,
  applied: (patchId: string) => boolean,
): Promise<LeaseView> {
  // A sealed input copied from another lease's history runs nothing under a workflow id of its own.
  // (No command is issued, so histories recorded before this check replay unchanged.)
  if (workflowInfo().workflowId !== spec.leaseId) {
    throw ApplicationFailure.nonRetryable('the lease input belongs to another workflow id', LeaseErrors.inputMismatch);
  }
  let progress: LeaseProgress = carried ?? newProgress(spec.ttlSeconds, spec.maxTtlSeconds);
  let credential: IssuedCredential | undefined;
  let issueFailure: ApplicationFailure | undefined;
  let revokeRequested = progress.state !== 'active';
  let forceRequested = false;
  let expiryMoved = false;
  /** Set once the lease stops taking renewals: its revocation is about to begin. */
  let ending = false;
  const renewals = new Mutex();
  let updatesThisRun = 0;

  const view = (): LeaseView => ({
    leaseId: spec.leaseId,
    engine: spec.engine,
    role: spec.role,
    username: spec.username,
    identityId: spec.identityId,
    metadata: spec.metadata,
    ...progress,
  });
  const continueAsNewDue = () =>
    workflowInfo().continueAsNewSuggested ||
    workflowInfo().historyLength > MAX_HISTORY_EVENTS_PER_RUN ||
    updatesThisRun >= MAX_UPDATES_PER_RUN;

  setHandler(leaseQuery, view);
  /** Who asked for the revocation without waiting for it: its audit entry is written with the lease's end. */
  let revokeRequestedBy: string | undefined;
  setHandler(abandonSignal, (request) => {
    revokeRequested = true;
    revokeRequestedBy ??= request?.requestedBy;
  });

  setHandler(issueUpdate, async () => {
    await condition(() => credential !== undefined || issueFailure !== undefined);
    if (issueFailure) throw issueFailure;
    return credential!;
  });

  /** Refuses a renewal the lease can no longer take: checked when it arrives and again when its turn comes. */
  const assertRenewable = () => {
    if (ending || progress.state !== 'active' || revokeRequested || Date.now() >= Date.parse(progress.expiresAt)) {
      throw ApplicationFailure.nonRetryable(
        `lease is ${revokeRequested || ending ? 'being revoked' : progress.state}`,
        LeaseErrors.notActive,
      );
    }
    if (Date.parse(progress.expiresAt) >= Date.parse(progress.maxExpiresAt)) {
      throw ApplicationFailure.nonRetryable(
        `lease already runs to its max TTL (${progress.maxExpiresAt}); request new credentials`,
        LeaseErrors.maxTtlExceeded,
      );
    }
  };

  setHandler(
    renewUpdate,
    async ({ incrementSeconds, requestedBy }) => {
      updatesThisRun++;
      // One renewal at a time, in arrival order; one that waited finds the lease as the one before it left it.
      return await renewals.runExclusive(async () => {
        assertRenewable();
        const plan = plannedRenewal(Date.now(), incrementSeconds ?? spec.defaultIncrementSeconds, progress);
        const next = { ...progress, expiresAt: new Date(plan.expiresAtMs).toISOString() };
        await database.renewCredential({ spec, progress: next, requestedBy });
        progress = { ...next, state: progress.state };
        upsertSearchAttributes(leaseSearchAttributes(spec, progress));
        expiryMoved = true;
        const warnings = plan.capped
          ? [`the requested increment passes the lease's max TTL; the lease now ends at its max, ${progress.expiresAt}`]
          : [];
        return { lease: view(), warnings, grantedSeconds: plan.grantedSeconds };
      });
    },
    {
      validator: ({ incrementSeconds }) => {
        if (incrementSeconds !== undefined && !(incrementSeconds > 0)) {
          throw ApplicationFailure.nonRetryable('increment must be positive', LeaseErrors.invalidIncrement);
        }
        assertRenewable();
      },
    },
  );

  setHandler(revokeUpdate, async ({ force }) => {
    updatesThisRun++;
    revokeRequested = true;
    if (force) forceRequested = true;
    await condition(() => isFinished(progress.state) || (!force && progress.state === 'revocation_failed'));
    return view();
  });

  if (!carried) {
    try {
      // Leases issued before the change replay their recorded (regular) activity.
      const { password } = await (applied(LOCAL_ISSUE_PATCH) ? issuingLocally : issuing).createCredential({
        spec,
        progress,
      });
      credential = { lease: view(), password };
    } catch (error) {
      issueFailure = ApplicationFailure.nonRetryable(causeMessage(error), LeaseErrors.issueFailed);
      // An attempt whose answer was lost may still have created the role: make sure it is gone.
      progress = { ...progress, revokeReason: 'revoked' };
      return await finish();
    }
  }

  while (!revokeRequested) {
    const remaining = Date.parse(progress.expiresAt) - Date.now();
    if (remaining <= 0 && !renewals.isLocked()) break;
    expiryMoved = false;
    await condition(() => revokeRequested || expiryMoved || continueAsNewDue(), Math.max(remaining, 0));
    await condition(() => !renewals.isLocked());
    if (continueAsNewDue() && !revokeRequested) return await carryOn();
  }
  progress = { ...progress, revokeReason: progress.revokeReason ?? (revokeRequested ? 'revoked' : 'expired') };
  return await finish();

  /** Revokes until the role is gone: a durable workflow need not give up where Vault would. */
  async function finish(): Promise<LeaseView> {
    ending = true;
    // Leases whose revocation began before the change replay their recorded (regular) activities.
    if (applied(LOCAL_REVOKE_PATCH)) return await revokeLocally();
    if (progress.state === 'active') await record({ ...progress, state: 'revoking' });
    for (let attempt = 1; ; attempt++) {
      const outcome = await database
        .revokeCredential({ spec })
        .catch((error) => ({ roleGone: false, errors: [causeMessage(error)] }));
      if (outcome.roleGone) break;
      const lastError = outcome.errors.join('; ') || 'the role still exists after the revocation statements';
      if (progress.state !== 'revocation_failed' || progress.lastError !== lastError) {
        await record({ ...progress, state: 'revocation_failed', lastError }, endingAudit(progress, lastError));
      }
      if (forceRequested) {
        progress = { ...progress, forced: true };
        break;
      }
      await condition(() => forceRequested, Math.min(5_000 * 2 ** (attempt - 1), MAX_REVOKE_BACKOFF_MS));
      if (continueAsNewDue() && !forceRequested) return await carryOn();
    }
    // An expiry has no caller to record it; a requested revocation is recorded by the API that took it.
    await record(
      { ...ended(progress, Date.now()), lastError: progress.forced ? progress.lastError : undefined },
      endingAudit(progress),
    );
    await condition(allHandlersFinished);
    return view();
  }

  /**
   * The revocation and its record in one local activity per attempt: a few milliseconds of SQL need no
   * trip through the server's activity queue, and an expiry costs one workflow task. The lease reads
   * `active` until the attempt's outcome is recorded.
   */
  async function revokeLocally(): Promise<LeaseView> {
    for (let attempt = 1; ; attempt++) {
      let outcome: RevocationOutcome;
      try {
        outcome = await revoking.revokeAndRecord({
          spec,
          progress,
          record: !issueFailure,
          requestedBy: revokeRequestedBy,
        });
      } catch (error) {
        // The store or the database did not answer: record that through the store's own retries.
        const lastError = causeMessage(error);
        if (progress.state !== 'revocation_failed' || progress.lastError !== lastError) {
          await record({ ...progress, state: 'revocation_failed', lastError }, endingAudit(progress, lastError));
        }
        outcome = { roleGone: false, progress };
      }
      if (outcome.progress.state !== progress.state)
        upsertSearchAttributes(leaseSearchAttributes(spec, outcome.progress));
      progress = outcome.progress;
      if (outcome.roleGone || outcome.engineGone) break;
      if (forceRequested) {
        await record({ ...ended(progress, Date.now()), forced: true }, endingAudit(progress));
        break;
      }
      await condition(() => forceRequested, Math.min(5_000 * 2 ** (attempt - 1), MAX_REVOKE_BACKOFF_MS));
      if (continueAsNewDue() && !forceRequested) return await carryOn();
    }
    await condition(allHandlersFinished);
    return view();
  }

  async function record(next: LeaseProgress, audit?: LeaseAuditEvent) {
    if (!issueFailure) await store.recordLeaseState({ spec, progress: next, audit });
    progress = next;
    upsertSearchAttributes(leaseSearchAttributes(spec, progress));
  }

  async function carryOn(): Promise<never> {
    await condition(allHandlersFinished);
    return continueAsNew<typeof leaseWorkflowV2>({ spec, progress });
  }
}

function newProgress(ttlSeconds: number, maxTtlSeconds: number): LeaseProgress {
  const issuedAt = truncateToSecond(Date.now());
  return {
    state: 'active',
    issuedAt: new Date(issuedAt).toISOString(),
    expiresAt: new Date(issuedAt + ttlSeconds * 1000).toISOString(),
    maxExpiresAt: new Date(issuedAt + maxTtlSeconds * 1000).toISOString(),
  };
}

/** The innermost message of an activity failure: the database's own words, never a stack. */
function causeMessage(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
