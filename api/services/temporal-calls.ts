import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

/** How the lease and rotation services call their workflows: with a deadline, and reading their failures. */

/** The type of the ApplicationFailure an update failed with (the workflow's own error codes). */
export function failureType(error: unknown): string | undefined {
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure)
    return error.cause.type ?? undefined;
  return undefined;
}

/** The workflow's own words for a failed update; the error itself otherwise. */
export const failureMessage = (error: unknown) =>
  error instanceof WorkflowUpdateFailedError && error.cause ? error.cause.message : String(error);

/** How long a caller waits for a worker to answer before the API answers without it. */
export const DEFAULT_WAIT_MS = 30_000;

/** A Temporal call that found no worker to answer it within its deadline. */
export class TimedOut extends Error {}

/**
 * Runs a Temporal call with a deadline; a call still waiting then (no worker answering) throws TimedOut.
 * The call is also aborted, so it does not poll on in the background.
 */
export async function withinDeadline<T>(temporal: Client, waitMs: number, call: () => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new TimedOut());
      try {
        controller.abort();
      } catch {
        // the call is left to end by itself
      }
    }, waitMs);
  });
  const running = temporal.connection.withAbortSignal(controller.signal, call);
  running.catch(() => {}); // settles after the deadline has answered
  try {
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
