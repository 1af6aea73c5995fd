/** The engine root rotation's input, outcome and activities: pure types, imported by the workflow sandbox. */

export interface RootRotationInput {
  engine: string;
  /** Who asked, for the audit entry. */
  requestedBy: string;
}

export type RootRotationOutcome =
  | { state: 'completed'; rotationId: string; version: number; retiredVersion: number | null }
  | { state: 'failed'; rotationId?: string; error: string }
  | { state: 'busy'; rotationId: string };

export interface RootRotationActivities {
  /**
   * Writes a new root password as the secret's `pending` version and records the rotation, in one
   * transaction; the value stays in the store, never in the workflow. Takes over a rotate-root left
   * unfinished by a process that stopped (its pending version is applied instead of a new one).
   */
  beginRootRotation(
    input: RootRotationInput & { rotationId: string; workflowId: string },
  ): Promise<
    | { outcome: 'started'; rotationId: string }
    | { outcome: 'busy'; rotationId: string }
    | { outcome: 'failed'; error: string }
  >;
  /**
   * Has the database take the pending password (`ALTER ROLE CURRENT_USER`, sent as a SCRAM verifier);
   * running it again is harmless. `refused` carries the database's words when it will
   * not; anything else (the database unreachable) is retried.
   */
  applyRootPassword(input: { engine: string; rotationId: string }): Promise<{ refused?: string }>;
  /** Promotes the pending version (retiring the old one) or, refused, retires it; audited, in one transaction. */
  finishRootRotation(input: RootRotationInput & { rotationId: string; refused?: string }): Promise<RootRotationOutcome>;
}

/** One root rotation at a time per engine: a second request joins the one running. */
export const rootRotationWorkflowId = (taskQueue: string, engine: string) => `rotate-root:${taskQueue}:${engine}`;
