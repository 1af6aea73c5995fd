/** The rotation workflow's input, views and activities: pure types, imported by the workflow sandbox. */

export type RotationTriggerKind = 'schedule' | 'manual';

/** No value travels here: the new value is generated and stored by an activity. */
export interface RotationWorkflowInput {
  secretPath: string;
  trigger: RotationTriggerKind;
  /** Who asked: an identity for a manual rotation; the schedule otherwise. */
  requestedBy: string;
}

export type RotationPhase = 'starting' | 'pending' | 'confirmed' | 'completed' | 'expired' | 'failed' | 'busy';

export interface RotationView {
  rotationId: string;
  secretPath: string;
  state: RotationPhase;
  newVersion?: number;
  previousVersion?: number;
  error?: string;
}

export type BeginOutcome =
  | { outcome: 'started'; newVersion: number; graceSeconds: number }
  | { outcome: 'busy'; rotationId: string }
  | { outcome: 'failed'; error: string };

/** One event for one webhook: ids and paths only, never a value. */
export interface DeliveryTask {
  deliveryId: string;
  webhookId: string;
  event: RotationEvent;
}

export interface RotationEvent {
  id: string;
  type: 'secret.rotated';
  created_at: string;
  data: { secret_path: string; version: number; rotation_id: string; confirm_url: string };
}

export interface RotationActivities {
  /**
   * Records the rotation (or finds another in progress), generates the new value by the policy and
   * writes it as a pending version, audited `rotation_start`. Idempotent per rotation id.
   */
  beginRotation(input: { rotationId: string; workflowId: string } & RotationWorkflowInput): Promise<BeginOutcome>;
  /** The deliveries of a `secret.rotated` event: one per webhook whose events and path pattern match. */
  prepareDeliveries(input: { rotationId: string; secretPath: string; version: number }): Promise<DeliveryTask[]>;
  /** One signed POST; throws on a non-2xx answer, so Temporal retries it with backoff. */
  deliverWebhook(task: DeliveryTask): Promise<void>;
  markDeliveryFailed(input: { deliveryId: string }): Promise<void>;
  /** Pending becomes current, current becomes previous; audited `rotation_confirm`. */
  confirmRotation(input: {
    rotationId: string;
    confirmedBy: string;
  }): Promise<{ previousVersion?: number; failed?: string }>;
  /** Nobody confirmed in time: the pending version is retired; the current one is untouched. */
  expireRotation(input: { rotationId: string }): Promise<void>;
  /** The grace period is over: the previous version is retired; audited `rotation_complete`. */
  completeRotation(input: { rotationId: string }): Promise<void>;
}

/** Failure types the API maps to contract errors. */
export const RotationErrors = {
  busy: 'RotationInProgress',
  failed: 'RotationFailed',
  notPending: 'RotationNotPending',
} as const;

/** One workflow id per secret (and task queue, so instances sharing a Temporal server stay apart). */
export const rotationWorkflowId = (taskQueue: string, secretPath: string) => `rotation:${taskQueue}:${secretPath}`;
