import type { HeldCredential } from './held-credential';

export interface RevokeOnShutdownOptions {
  /** How long the revocations may take before the process goes on exiting (default 5 s). */
  timeoutMs?: number;
  signals?: NodeJS.Signals[];
}

/**
 * Revokes every held credential when the process is told to stop (SIGTERM, SIGINT), within a bound, then
 * lets it exit as it would have: other handlers of the signal still run and decide; with none, the
 * signal's default action ends the process. Revocations are requested without waiting for the roles to
 * be dropped (`DELETE ...?wait=false`), which the product then does durably. Returns a function that
 * removes the hooks.
 */
export function revokeOnShutdown(
  held: HeldCredential | HeldCredential[],
  { timeoutMs = 5_000, signals = ['SIGTERM', 'SIGINT'] }: RevokeOnShutdownOptions = {},
): () => void {
  const credentials = Array.isArray(held) ? held : [held];
  let started = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (started) return;
    started = true;
    remove();
    const revoking = Promise.all(credentials.map((c) => c.stop({ revoke: true, wait: false })));
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    void Promise.race([revoking, bound]).finally(() => {
      clearTimeout(timer);
      // No one else handles the signal: do what Node would have done without us.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  const remove = () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  for (const signal of signals) process.on(signal, onSignal);
  return remove;
}
