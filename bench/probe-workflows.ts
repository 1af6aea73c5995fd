/**
 * Workflows that exist only to measure Temporal's share of a mint: each answers one update, like the
 * lease workflow's `issue`, after zero or one activity, run as a regular or a local activity. They run on
 * the benchmark's own task queue and worker, never on the product's.
 */
import {
  allHandlersFinished,
  condition,
  defineUpdate,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { LeaseProgress, LeaseSpec } from '../lib/lease';

export interface ProbeActivities {
  noop(): Promise<string>;
  createCredential(input: { spec: LeaseSpec; progress: LeaseProgress }): Promise<{ password: string }>;
}

export type ProbeStep = 'none' | 'noop' | 'createCredential';
export interface ProbeInput {
  step: ProbeStep;
  local: boolean;
  credential?: { spec: LeaseSpec; progress: LeaseProgress };
  /** `patched()` calls before answering, as a workflow that kept its old code paths makes on a new run. */
  patches?: number;
}

export const probeUpdate = defineUpdate<string>('probe');

const remote = proxyActivities<ProbeActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });
const local = proxyLocalActivities<ProbeActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

export async function probeWorkflow(input: ProbeInput): Promise<void> {
  let answer: string | undefined;
  let asked = false;
  setHandler(probeUpdate, async () => {
    asked = true;
    await condition(() => answer !== undefined);
    return answer!;
  });
  for (let i = 0; i < (input.patches ?? 0); i++) patched(`probe-patch-${i}`);
  const activities = input.local ? local : remote;
  if (input.step === 'none') answer = 'ok';
  else if (input.step === 'noop') answer = await activities.noop();
  else answer = (await activities.createCredential(input.credential!)).password.length > 0 ? 'ok' : 'empty';
  // Started without its update (eager start), the workflow waits for the update before it ends.
  await condition(() => asked && allHandlersFinished());
}
