import { ApplicationFailure, Context } from '@temporalio/activity';
import { createHmac } from 'node:crypto';
import { matchesPattern } from '../lib/path-pattern';
import { newId } from '../lib/random';
import type { BeginOutcome, RotationActivities, RotationEvent } from '../lib/rotation-activities';
import { generateSecretValue, rotatedField } from '../lib/secret-policy';
import type { Stores } from '../store';
import type { RotationRecord } from '../store/rotation';
import type { ReceiverAllowList } from '../lib/receiver-address';
import { postToReceiver, ReceiverRefused } from './receiver-post';

export interface RotationActivityDeps {
  stores: Pick<Stores, 'secrets' | 'rotation' | 'webhooks' | 'audited'>;
  /** The API's public base URL, for the confirm_url receivers call back. */
  publicUrl: string;
  /** How long one delivery attempt may take. */
  deliveryTimeoutMs?: number;
  /** Receivers at non-public addresses that may be reached (none by default). */
  receiverAllow?: ReceiverAllowList;
}

export const ROTATED_EVENT = 'secret.rotated';

/** `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

export function createRotationActivities({
  stores,
  publicUrl,
  deliveryTimeoutMs = 10_000,
  receiverAllow = [],
}: RotationActivityDeps): RotationActivities {
  const { secrets, rotation, webhooks } = stores;
  /** A rotation's step: its changes and its audit entry commit together, and a retried step records nothing twice. */
  const step = <T>(
    r: Pick<RotationRecord, 'secret_path' | 'rotation_id'>,
    change: (tx: { secrets: typeof secrets; rotation: typeof rotation }) => Promise<T>,
    audit: (result: T) => {
      identity: string;
      action: string;
      result: 'success' | 'failure';
      extra: Record<string, unknown>;
    },
  ) =>
    stores.audited(
      (tx) => change({ secrets: secrets.within(tx), rotation: rotation.within(tx) }),
      (done) => {
        const { identity, action, result, extra } = audit(done);
        return {
          identity_id: identity,
          action,
          path: r.secret_path,
          result,
          extra_data: { rotation_id: r.rotation_id, ...extra },
          idempotency_key: `rotation:${r.rotation_id}:${action}`,
        };
      },
    );

  async function mustGet(rotationId: string): Promise<RotationRecord> {
    const row = await rotation.get(rotationId);
    if (!row) throw ApplicationFailure.nonRetryable(`rotation ${rotationId} is not recorded`, 'RotationMissing');
    return row;
  }

  return {
    async beginRotation({ rotationId, workflowId, secretPath, trigger, requestedBy }): Promise<BeginOutcome> {
      const assignment = await rotation.assignment(secretPath);
      const row = await rotation.begin({
        rotation_id: rotationId,
        secret_path: secretPath,
        policy_id: assignment?.policy_id ?? null,
        workflow_id: workflowId,
        trigger,
        requested_by: requestedBy,
      });
      if (row === 'busy')
        return { outcome: 'busy', rotationId: (await rotation.inProgress(secretPath))?.rotation_id ?? 'unknown' };
      if (row.state === 'failed') return { outcome: 'failed', error: row.last_error ?? 'failed' };
      const graceSeconds = assignment?.policy.grace_period_seconds ?? 0;
      if (row.new_version !== null) return { outcome: 'started', newVersion: row.new_version, graceSeconds };

      const fail = async (error: string): Promise<BeginOutcome> => {
        await step(
          row,
          (tx) => tx.rotation.update(rotationId, { state: 'failed', finished_at: new Date(), last_error: error }),
          () => ({ identity: requestedBy, action: 'rotation_start', result: 'failure', extra: { trigger, error } }),
        );
        return { outcome: 'failed', error };
      };
      if (!assignment) return fail(`${secretPath} is not assigned to a rotation policy`);
      const secretPolicy = await rotation.secretPolicy(assignment.policy.secret_policy_id);
      if (!secretPolicy) return fail(`secret policy ${assignment.policy.secret_policy_id} does not exist`);
      const current = await secrets.get(secretPath);
      if (!current) return fail(`${secretPath} has no current version`);
      const field = rotatedField(current.data);
      if (!field) return fail(`${secretPath} has neither a "password" field nor a single string field to replace`);

      // A pending version left by an earlier attempt of this very rotation (no other is in progress).
      const written = await step(
        row,
        async (tx) => {
          const orphan = await tx.secrets.pending(secretPath);
          if (orphan) await tx.secrets.retire(secretPath, orphan.version);
          const pending = await tx.secrets.put(
            secretPath,
            { ...current.data, [field]: generateSecretValue(secretPolicy) },
            current.secret_type,
            'pending',
          );
          await tx.rotation.update(rotationId, {
            new_version: pending.version,
            previous_version: current.version,
            confirm_deadline: new Date(Date.now() + graceSeconds * 1000),
          });
          return pending;
        },
        (pending) => ({
          identity: requestedBy,
          action: 'rotation_start',
          result: 'success',
          extra: {
            trigger,
            version: pending.version,
            previous_version: current.version,
            policy_id: assignment.policy_id,
          },
        }),
      );
      return { outcome: 'started', newVersion: written.version, graceSeconds };
    },

    async prepareDeliveries({ rotationId, secretPath, version }) {
      const event: RotationEvent = {
        id: `evt_${rotationId}`,
        type: ROTATED_EVENT,
        created_at: new Date().toISOString(),
        data: {
          secret_path: secretPath,
          version,
          rotation_id: rotationId,
          confirm_url: `${publicUrl.replace(/\/+$/, '')}/v1/rotation/rotations/${rotationId}/confirm`,
        },
      };
      const targets = (await webhooks.list()).filter(
        (w) => w.events.includes(ROTATED_EVENT) && (!w.path_pattern || matchesPattern(w.path_pattern, secretPath)),
      );
      return Promise.all(
        targets.map(async (w) => ({
          webhookId: w.id,
          event,
          deliveryId: await webhooks.addDelivery({
            id: newId('dlv'),
            webhook_id: w.id,
            event_id: event.id,
            event_type: event.type,
            secret_path: secretPath,
            rotation_id: rotationId,
          }),
        })),
      );
    },

    async deliverWebhook({ deliveryId, webhookId, event }) {
      const { attempt } = Context.current().info;
      const secret = await webhooks.signingSecret(webhookId);
      const hook = await webhooks.get(webhookId);
      if (!secret || !hook) throw ApplicationFailure.nonRetryable(`webhook ${webhookId} was deleted`, 'WebhookDeleted');
      const body = JSON.stringify(event);
      let responseCode: number | undefined;
      let error: string | undefined;
      try {
        responseCode = await postToReceiver(
          hook.url,
          {
            'content-type': 'application/json',
            'x-scaivault-signature': signatureHeader(secret, body, Math.floor(Date.now() / 1000)),
            'x-scaivault-event': event.type,
            'x-scaivault-delivery': deliveryId,
          },
          body,
          { timeoutMs: deliveryTimeoutMs, allow: receiverAllow },
        );
        if (responseCode < 200 || responseCode >= 300) error = `the receiver answered HTTP ${responseCode}`;
      } catch (failure) {
        const cause = failure as { code?: string; message?: string };
        error =
          failure instanceof ReceiverRefused
            ? `refused: ${cause.message}`
            : `could not reach the receiver: ${cause.code ?? cause.message}`;
      }
      await webhooks.recordAttempt(deliveryId, attempt, {
        status: error ? 'retrying' : 'delivered',
        responseCode,
        error,
      });
      if (error) throw ApplicationFailure.retryable(error, 'WebhookDeliveryFailed');
    },

    markDeliveryFailed: ({ deliveryId }) => webhooks.markFailed(deliveryId),

    async confirmRotation({ rotationId, confirmedBy }) {
      const row = await mustGet(rotationId);
      if (row.state === 'failed') return { failed: row.last_error ?? 'failed' };
      if (row.state !== 'pending') return { previousVersion: row.previous_version ?? undefined };
      if (!(await secrets.pending(row.secret_path))) {
        // The secret was deleted (or its pending version retired) meanwhile: the rotation ends here, once.
        const error = `${row.secret_path} has no pending version any more: the secret was deleted during the rotation`;
        await step(
          row,
          (tx) => tx.rotation.update(rotationId, { state: 'failed', finished_at: new Date(), last_error: error }),
          () => ({
            identity: confirmedBy,
            action: 'rotation_confirm',
            result: 'failure',
            extra: { version: row.new_version, error },
          }),
        );
        return { failed: error };
      }
      const grace =
        row.confirm_deadline && row.started_at ? row.confirm_deadline.getTime() - row.started_at.getTime() : 0;
      // The promotion and the rotation's record of it commit together: a retry finds the rotation confirmed.
      const { previousVersion } = await step(
        row,
        async (tx) => {
          const promoted = await tx.secrets.promote(row.secret_path, row.new_version!);
          await tx.rotation.update(rotationId, {
            state: 'confirmed',
            confirmed_by: confirmedBy,
            confirmed_at: new Date(),
            grace_ends_at: new Date(Date.now() + grace),
            previous_version: promoted.previousVersion ?? null,
          });
          return promoted;
        },
        (promoted) => ({
          identity: confirmedBy,
          action: 'rotation_confirm',
          result: 'success',
          extra: { version: row.new_version, previous_version: promoted.previousVersion ?? null },
        }),
      );
      return { previousVersion };
    },

    async expireRotation({ rotationId }) {
      const row = await mustGet(rotationId);
      if (row.state !== 'pending') return;
      const error = 'not confirmed within the grace period; the pending version was retired and the current one kept';
      await step(
        row,
        async (tx) => {
          if (row.new_version !== null) await tx.secrets.retire(row.secret_path, row.new_version);
          await tx.rotation.update(rotationId, { state: 'expired', finished_at: new Date(), last_error: error });
        },
        () => ({
          identity: row.requested_by,
          action: 'rotation_expire',
          result: 'failure',
          extra: { version: row.new_version, error },
        }),
      );
    },

    async completeRotation({ rotationId }) {
      const row = await mustGet(rotationId);
      if (row.state !== 'confirmed') return;
      await step(
        row,
        async (tx) => {
          if (row.previous_version !== null) await tx.secrets.retire(row.secret_path, row.previous_version);
          await tx.rotation.update(rotationId, { state: 'completed', finished_at: new Date() });
        },
        () => ({
          identity: row.requested_by,
          action: 'rotation_complete',
          result: 'success',
          extra: { version: row.new_version, retired_version: row.previous_version },
        }),
      );
    },
  };
}
