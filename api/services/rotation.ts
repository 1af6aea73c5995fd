import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { isAdmin, type Identity } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import { newId } from '../../lib/random';
import { RotationErrors, rotationWorkflowId, type RotationView } from '../../lib/rotation-activities';
import { ensureRotationSchedule } from '../../temporal/schedules';
import { DEFAULT_CHARSET, rotatedField, secretPolicyProblem } from '../../lib/secret-policy';
import type { Stores } from '../../store';
import type { RotationPolicyRecord, RotationRecord, SecretPolicyRecord } from '../../store/rotation';
import type { rotationWorkflow } from '../../workflows/rotation';
import { confirmUpdate, startedUpdate } from '../../workflows/rotation-messages';
import type { Authorizer } from '../auth';
import { DEFAULT_WAIT_MS, failureMessage, failureType, TimedOut, withinDeadline } from './temporal-calls';
import { auditEntry } from './audit-entry';

export interface SecretPolicyInput {
  id?: string;
  name: string;
  length: number;
  charset?: string;
  min_digits?: number;
  min_lowercase?: number;
  min_uppercase?: number;
  min_symbols?: number;
}

export interface RotationPolicyInput {
  id?: string;
  name: string;
  interval: number;
  grace_period: number;
  auto_generate: boolean;
  secret_policy_id: string;
}

const secretPolicyView = ({
  id,
  name,
  length,
  charset,
  min_digits,
  min_lowercase,
  min_uppercase,
  min_symbols,
  builtin,
  created_at,
}: SecretPolicyRecord) => ({
  id,
  name,
  length,
  charset,
  min_digits,
  min_lowercase,
  min_uppercase,
  min_symbols,
  builtin,
  created_at: new Date(created_at).toISOString(),
});

const policyView = (p: RotationPolicyRecord, secretPaths?: string[]) => ({
  id: p.id,
  name: p.name,
  interval: p.interval_seconds,
  grace_period: p.grace_period_seconds,
  auto_generate: p.auto_generate,
  secret_policy_id: p.secret_policy_id,
  created_at: new Date(p.created_at).toISOString(),
  ...(secretPaths ? { secret_paths: secretPaths } : {}),
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);
export const rotationView = (r: RotationRecord) => ({
  rotation_id: r.rotation_id,
  secret_path: r.secret_path,
  policy_id: r.policy_id,
  trigger: r.trigger,
  state: r.state,
  new_version: r.new_version,
  previous_version: r.previous_version,
  requested_by: r.requested_by,
  confirmed_by: r.confirmed_by,
  started_at: r.started_at.toISOString(),
  confirm_deadline: iso(r.confirm_deadline),
  confirmed_at: iso(r.confirmed_at),
  grace_ends_at: iso(r.grace_ends_at),
  finished_at: iso(r.finished_at),
  last_error: r.last_error,
});

/** Minimum interval between scheduled rotations: a typo like "7s" for "7d" must not churn a root credential. */
export const MIN_INTERVAL_SECONDS = 60;

/** The store says no rotation is in progress, yet the last one's workflow is still open. */
class StillClosing extends Error {}

/** How long a manual rotation waits for the last one's workflow to close. */
const CLOSING_WAIT_MS = 5_000;

export function createRotationService(deps: {
  stores: Pick<Stores, 'audited' | 'rotation' | 'secrets'>;
  temporal: Client;
  taskQueue: string;
  authorizer: Authorizer;
  waitMs?: number;
}) {
  const { stores, temporal, taskQueue, authorizer, waitMs = DEFAULT_WAIT_MS } = deps;

  async function mustPolicy(id: string) {
    const policy = await stores.rotation.policy(id);
    if (!policy) throw notFound(`rotation policy ${id}`);
    return policy;
  }

  /** The body names the secret, so its policy is checked here (the route's check runs before the body is read). */
  async function mayRotate(actor: Identity, path: string) {
    if (isAdmin(actor) || (await authorizer.allows(actor, 'rotate', path))) return;
    throw new ApiError('forbidden', `no policy grants rotate on ${path}`);
  }

  const conflict = (outcome: 'id_taken' | 'name_taken', what: string, id: string, name: string) =>
    new ApiError('conflict', outcome === 'id_taken' ? `${what} id ${id} is taken` : `a ${what} named ${name} exists`);

  return {
    async createSecretPolicy(actor: Identity, input: SecretPolicyInput) {
      const fields = {
        id: input.id ?? newId('sp'),
        name: input.name,
        length: input.length,
        charset: input.charset ?? DEFAULT_CHARSET,
        min_digits: input.min_digits ?? 0,
        min_lowercase: input.min_lowercase ?? 0,
        min_uppercase: input.min_uppercase ?? 0,
        min_symbols: input.min_symbols ?? 0,
      };
      const problem = secretPolicyProblem(fields);
      if (problem) throw new ApiError('invalid_request', problem);
      const outcome = await stores.audited(
        (tx) => stores.rotation.within(tx).createSecretPolicy(fields),
        (o) =>
          o === 'created'
            ? auditEntry(actor, 'secret_policy_write', `secret-policies/${fields.id}`, {
                operation: 'create',
                id: fields.id,
              })
            : undefined,
      );
      if (outcome !== 'created') throw conflict(outcome, 'secret policy', fields.id, fields.name);
      return secretPolicyView((await stores.rotation.secretPolicy(fields.id))!);
    },

    listSecretPolicies: async () => (await stores.rotation.secretPolicies()).map(secretPolicyView),

    async getSecretPolicy(id: string) {
      const policy = await stores.rotation.secretPolicy(id);
      if (!policy) throw notFound(`secret policy ${id}`);
      return secretPolicyView(policy);
    },

    async createPolicy(actor: Identity, input: RotationPolicyInput) {
      if (!input.auto_generate) {
        throw new ApiError(
          'invalid_request',
          'auto_generate must be true: rotation generates the new value with the secret policy ' +
            '(supplying values is not supported)',
        );
      }
      if (input.interval < MIN_INTERVAL_SECONDS)
        throw new ApiError('invalid_request', `interval must be at least ${MIN_INTERVAL_SECONDS}s`);
      if (input.grace_period < 1) throw new ApiError('invalid_request', 'grace_period must be at least 1s');
      if (!(await stores.rotation.secretPolicy(input.secret_policy_id))) {
        throw new ApiError('invalid_request', `secret policy ${input.secret_policy_id} does not exist`);
      }
      const fields = {
        id: input.id ?? newId('rot'),
        name: input.name,
        interval_seconds: input.interval,
        grace_period_seconds: input.grace_period,
        auto_generate: input.auto_generate,
        secret_policy_id: input.secret_policy_id,
      };
      const outcome = await stores.audited(
        (tx) => stores.rotation.within(tx).createPolicy(fields),
        (o) =>
          o === 'created'
            ? auditEntry(actor, 'rotation_policy_write', `rotation/policies/${fields.id}`, {
                operation: 'create',
                id: fields.id,
              })
            : undefined,
      );
      if (outcome !== 'created') throw conflict(outcome, 'rotation policy', fields.id, fields.name);
      return policyView((await stores.rotation.policy(fields.id))!, []);
    },

    listPolicies: async () => (await stores.rotation.policies()).map((p) => policyView(p)),

    async getPolicy(id: string) {
      return policyView(await mustPolicy(id), await stores.rotation.assignedPaths(id));
    },

    /** Puts a secret on the policy's schedule (moving it from another policy if it had one). */
    async assign(actor: Identity, policyId: string, secretPath: string) {
      const policy = await mustPolicy(policyId);
      await mayRotate(actor, secretPath);
      const current = await stores.secrets.get(secretPath);
      if (!current) throw notFound(`secret ${secretPath}`);
      if (!rotatedField(current.data)) {
        throw new ApiError(
          'invalid_request',
          `${secretPath} has neither a "password" field nor a single string field a rotation could replace`,
        );
      }
      const scheduleId = await ensureRotationSchedule(
        temporal,
        taskQueue,
        secretPath,
        policy.interval_seconds,
        rotationWorkflowId(taskQueue, secretPath),
      );
      await stores.audited(
        (tx) =>
          stores.rotation.within(tx).assign({ secret_path: secretPath, policy_id: policyId, schedule_id: scheduleId }),
        auditEntry(actor, 'rotation_policy_write', secretPath, { operation: 'assign', policy_id: policyId }),
      );
      return {
        policy_id: policyId,
        secret_path: secretPath,
        schedule_id: scheduleId,
        next_rotation_at: await nextRun(scheduleId),
      };
    },

    /** Starts a rotation now; answers once the pending version is written. */
    async rotateNow(actor: Identity, secretPath: string) {
      const workflowId = rotationWorkflowId(taskQueue, secretPath);
      try {
        return await startRotation(actor, secretPath, workflowId);
      } catch (error) {
        if (!(error instanceof StillClosing)) throw error;
      }
      // The store has ended the last rotation but its workflow is still closing (told of a deleted secret,
      // or delivering its last webhook events): wait briefly for it, then start the next one.
      await withinDeadline(temporal, CLOSING_WAIT_MS, () => temporal.workflow.getHandle(workflowId).result()).catch(
        () => {},
      );
      try {
        return await startRotation(actor, secretPath, workflowId);
      } catch (error) {
        if (!(error instanceof StillClosing)) throw error;
        throw new ApiError(
          'conflict',
          `the last rotation of ${secretPath} has ended but is still delivering its webhook events; try again later`,
        );
      }
    },

    async confirm(actor: Identity, rotationId: string) {
      const row = await stores.rotation.get(rotationId);
      if (!row) throw notFound(`rotation ${rotationId}`);
      if (row.state !== 'pending' || row.trigger === 'rotate_root') {
        throw new ApiError('conflict', `rotation ${rotationId} is ${row.state}, not awaiting confirmation`);
      }
      try {
        await withinDeadline(temporal, waitMs, () =>
          temporal.workflow
            .getHandle(row.workflow_id)
            .executeUpdate(confirmUpdate, { args: [{ identityId: actor.identity_id }] }),
        );
      } catch (error) {
        if (error instanceof TimedOut)
          throw new ApiError(
            'engine_unavailable',
            `no worker took the confirmation within ${Math.round(waitMs / 1000)}s; try again`,
          );
        if (failureType(error) === RotationErrors.notPending) throw new ApiError('conflict', failureMessage(error));
        throw error;
      }
      return rotationView((await stores.rotation.get(rotationId))!);
    },

    async status(secretPath: string) {
      const assignment = await stores.rotation.assignment(secretPath);
      const [latest, current] = await Promise.all([
        stores.rotation.latest(secretPath),
        stores.rotation.inProgress(secretPath),
      ]);
      if (!assignment && !latest) throw notFound(`rotation settings for ${secretPath}`);
      const next = assignment ? await nextRun(assignment.schedule_id) : null;
      return {
        secret_path: secretPath,
        policy: assignment ? policyView(assignment.policy) : null,
        schedule: assignment
          ? { id: assignment.schedule_id, interval: assignment.policy.interval_seconds, next_run_at: next }
          : null,
        last_rotation: latest ? rotationView(latest) : null,
        next_rotation_at: next,
        current_rotation: current ? rotationView(current) : null,
      };
    },

    /** The rotation's secret path, for the route's policy check (unknown ids get a path no policy grants). */
    async rotationPath(rotationId: string) {
      return (await stores.rotation.get(rotationId))?.secret_path ?? `rotation/rotations/${rotationId}`;
    },
  };

  async function startRotation(actor: Identity, secretPath: string, workflowId: string) {
    if (!(await stores.rotation.assignment(secretPath))) {
      throw new ApiError(
        'invalid_request',
        `${secretPath} is not assigned to a rotation policy: POST /v1/rotation/policies/{id}/secrets first`,
      );
    }
    const busy = await stores.rotation.inProgress(secretPath);
    if (busy)
      throw new ApiError('conflict', `rotation ${busy.rotation_id} of ${secretPath} is in progress (${busy.state})`, {
        rotation_id: busy.rotation_id,
      });
    const start = new WithStartWorkflowOperation<typeof rotationWorkflow>('rotationWorkflow', {
      workflowId,
      taskQueue,
      args: [{ secretPath, trigger: 'manual', requestedBy: actor.identity_id }],
      workflowIdConflictPolicy: 'FAIL',
    });
    let view: RotationView;
    try {
      view = await withinDeadline(temporal, waitMs, () =>
        temporal.workflow.executeUpdateWithStart(startedUpdate, { startWorkflowOperation: start }),
      );
    } catch (error) {
      if (error instanceof TimedOut) {
        throw new ApiError(
          'engine_unavailable',
          `no worker began the rotation within ${Math.round(waitMs / 1000)}s; it begins once one runs ` +
            `(GET /v1/rotation/secrets/${secretPath} shows it)`,
        );
      }
      const type = failureType(error);
      if (type === RotationErrors.busy) throw new ApiError('conflict', `a rotation of ${secretPath} is in progress`);
      if (/already started|already running/i.test(String(error))) throw new StillClosing();
      if (type === RotationErrors.failed) throw new ApiError('invalid_request', failureMessage(error));
      throw error;
    }
    return rotationView((await stores.rotation.get(view.rotationId))!);
  }

  async function nextRun(scheduleId: string): Promise<string | null> {
    const described = await temporal.schedule
      .getHandle(scheduleId)
      .describe()
      .catch(() => undefined);
    return described?.info.nextActionTimes[0]?.toISOString() ?? null;
  }
}

export type RotationService = ReturnType<typeof createRotationService>;
