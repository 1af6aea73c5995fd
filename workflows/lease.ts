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

/** Everything one run of a lease workflow knows, in one object (Temporal's safe-message-handlers sample). */
interface LeaseState {
  progress: LeaseProgress;
  /** What the issue update answers with, once the role exists. */
  credential?: IssuedCredential;
  /** Why the role could not be issued: the issue update answers with it, and the workflow only cleans up. */
  issueFailure?: ApplicationFailure;
  revokeRequested: boolean;
  /** Who asked for the revocation without waiting for it: its audit entry is written with the lease's end. */
  revokeRequestedBy?: string;
  forceRequested: boolean;
  /** A renewal moved the expiry: the sleep starts over. */
  expiryMoved: boolean;
  /** The lease takes no more renewals: its revocation is about to begin. */
  renewalsClosed: boolean;
  updatesThisRun: number;
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
  const state: LeaseState = {
    progress: carried ?? newProgress(spec.ttlSeconds, spec.maxTtlSeconds),
    revokeRequested: carried !== undefined && carried.state !== 'active',
    forceRequested: false,
    expiryMoved: false,
    renewalsClosed: false,
    updatesThisRun: 0,
  };
  /** One renewal at a time, in arrival order. */
  const renewals = new Mutex();

  const view = (): LeaseView => ({
    leaseId: spec.leaseId,
    engine: spec.engine,
    role: spec.role,
    username: spec.username,
    identityId: spec.identityId,
    metadata: spec.metadata,
    ...state.progress,
  });
  const continueAsNewDue = () =>
    workflowInfo().continueAsNewSuggested ||
    workflowInfo().historyLength > MAX_HISTORY_EVENTS_PER_RUN ||
    state.updatesThisRun >= MAX_UPDATES_PER_RUN;

  setHandler(leaseQuery, view);
  setHandler(abandonSignal, (request) => {
    state.revokeRequested = true;
    state.revokeRequestedBy ??= request?.requestedBy;
  });

  setHandler(issueUpdate, async () => {
    await condition(() => state.credential !== undefined || state.issueFailure !== undefined);
    if (state.issueFailure) throw state.issueFailure;
    return state.credential!;
  });

  /** Refuses a renewal the lease can no longer take: checked when it arrives and again when its turn comes. */
  const assertRenewable = () => {
    const { progress } = state;
    const revoking = state.revokeRequested || state.renewalsClosed;
    if (revoking || progress.state !== 'active' || Date.now() >= Date.parse(progress.expiresAt)) {
      throw ApplicationFailure.nonRetryable(
        `lease is ${revoking ? 'being revoked' : progress.state}`,
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
      state.updatesThisRun++;
      // A renewal that waited its turn finds the lease as the one before it left it.
      return await renewals.runExclusive(async () => {
        assertRenewable();
        const plan = plannedRenewal(Date.now(), incrementSeconds ?? spec.defaultIncrementSeconds, state.progress);
        const next = { ...state.progress, expiresAt: new Date(plan.expiresAtMs).toISOString() };
        await database.renewCredential({ spec, progress: next, requestedBy });
        state.progress = { ...next, state: state.progress.state };
        upsertSearchAttributes(leaseSearchAttributes(spec, state.progress));
        state.expiryMoved = true;
        const warnings = plan.capped
          ? [
              "the requested increment passes the lease's max TTL; " +
                `the lease now ends at its max, ${state.progress.expiresAt}`,
            ]
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
    state.updatesThisRun++;
    state.revokeRequested = true;
    if (force) state.forceRequested = true;
    await condition(() => isFinished(state.progress.state) || (!force && state.progress.state === 'revocation_failed'));
    return view();
  });

  // The story: issue the role, sleep until the lease ends, revoke until the role is gone.
  if (!carried) {
    try {
      // Leases issued before the change replay their recorded (regular) activity.
      const issue = applied(LOCAL_ISSUE_PATCH) ? issuingLocally : issuing;
      const { password } = await issue.createCredential({ spec, progress: state.progress });
      state.credential = { lease: view(), password };
    } catch (error) {
      state.issueFailure = ApplicationFailure.nonRetryable(innermostMessage(error), LeaseErrors.issueFailed);
      // An attempt whose answer was lost may still have created the role: make sure it is gone.
      state.progress = { ...state.progress, revokeReason: 'revoked' };
      return await revokeUntilGone();
    }
  }

  while (!state.revokeRequested) {
    const remaining = Date.parse(state.progress.expiresAt) - Date.now();
    if (remaining <= 0 && !renewals.isLocked()) break;
    state.expiryMoved = false;
    await condition(() => state.revokeRequested || state.expiryMoved || continueAsNewDue(), Math.max(remaining, 0));
    await condition(() => !renewals.isLocked());
    if (continueAsNewDue() && !state.revokeRequested) return await continueAsNewWithProgress();
  }
  const revokeReason = state.progress.revokeReason ?? (state.revokeRequested ? 'revoked' : 'expired');
  state.progress = { ...state.progress, revokeReason };
  return await revokeUntilGone();

  /** Revokes until the role is gone: a durable workflow need not give up where Vault would. */
  async function revokeUntilGone(): Promise<LeaseView> {
    state.renewalsClosed = true;
    // Leases whose revocation began before the change replay their recorded (regular) activities.
    return await (applied(LOCAL_REVOKE_PATCH) ? revokeLocally() : revokeWithActivities());
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
          progress: state.progress,
          record: !state.issueFailure,
          requestedBy: state.revokeRequestedBy,
        });
      } catch (error) {
        // The store or the database did not answer: record that through the store's own retries.
        await recordFailedAttempt(innermostMessage(error));
        outcome = { roleGone: false, progress: state.progress };
      }
      if (outcome.progress.state !== state.progress.state) {
        upsertSearchAttributes(leaseSearchAttributes(spec, outcome.progress));
      }
      state.progress = outcome.progress;
      if (outcome.roleGone || outcome.engineGone) break;
      if (state.forceRequested) {
        await recordState({ ...ended(state.progress, Date.now()), forced: true }, endingAudit(state.progress));
        break;
      }
      await backOff(attempt);
      if (continueAsNewDue() && !state.forceRequested) return await continueAsNewWithProgress();
    }
    await condition(allHandlersFinished);
    return view();
  }

  /** The revocation as leases recorded it before `revokeLocally`: state, statements and record as activities. */
  async function revokeWithActivities(): Promise<LeaseView> {
    if (state.progress.state === 'active') await recordState({ ...state.progress, state: 'revoking' });
    for (let attempt = 1; ; attempt++) {
      const outcome = await database
        .revokeCredential({ spec })
        .catch((error) => ({ roleGone: false, errors: [innermostMessage(error)] }));
      if (outcome.roleGone) break;
      await recordFailedAttempt(outcome.errors.join('; ') || 'the role still exists after the revocation statements');
      if (state.forceRequested) {
        state.progress = { ...state.progress, forced: true };
        break;
      }
      await backOff(attempt);
      if (continueAsNewDue() && !state.forceRequested) return await continueAsNewWithProgress();
    }
    // An expiry has no caller to record it; a requested revocation is recorded by the API that took it.
    const { progress } = state;
    await recordState(
      { ...ended(progress, Date.now()), lastError: progress.forced ? progress.lastError : undefined },
      endingAudit(progress),
    );
    await condition(allHandlersFinished);
    return view();
  }

  /** Records a failed attempt once per distinct error, so a stuck revocation does not flood the store. */
  async function recordFailedAttempt(lastError: string) {
    const { progress } = state;
    if (progress.state !== 'revocation_failed' || progress.lastError !== lastError) {
      await recordState({ ...progress, state: 'revocation_failed', lastError }, endingAudit(progress, lastError));
    }
  }

  /** Waits before the next attempt (5 s, doubling, capped at 5 minutes), or until an operator forces the end. */
  async function backOff(attempt: number) {
    await condition(() => state.forceRequested, Math.min(5_000 * 2 ** (attempt - 1), MAX_REVOKE_BACKOFF_MS));
  }

  async function recordState(next: LeaseProgress, audit?: LeaseAuditEvent) {
    if (!state.issueFailure) await store.recordLeaseState({ spec, progress: next, audit });
    state.progress = next;
    upsertSearchAttributes(leaseSearchAttributes(spec, state.progress));
  }

  async function continueAsNewWithProgress(): Promise<never> {
    await condition(allHandlersFinished);
    return continueAsNew<typeof leaseWorkflowV2>({ spec, progress: state.progress });
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
function innermostMessage(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
