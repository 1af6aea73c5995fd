import type { Client } from '@temporalio/client';

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
