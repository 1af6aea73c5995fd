/**
 * The API and the worker as children of `npm start` (scripts/dev-stack.ts), over Node's IPC channel.
 * Run on their own (`npm run api`, `npm run worker`, a container), there is no channel and both are no-ops.
 */
export const READY_MESSAGE = 'scaivault:ready';

/** Tells a parent `npm start` that this process serves. */
export function announceReady() {
  process.send?.(READY_MESSAGE);
}

/** Stops this process when its parent `npm start` goes, however it goes (even SIGKILL closes the channel). */
export function stopWithParent(stop: () => void) {
  if (!process.connected) return;
  process.once('disconnect', stop);
  // The channel alone must not keep a process alive that has otherwise finished.
  process.channel?.unref();
}
