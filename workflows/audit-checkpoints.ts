import {
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { isNewerCheckpoint, type AuditCheckpoint } from '../lib/audit-checkpoint';
import { CHECKPOINT_MEMO, checkpointSignal, latestCheckpointQuery } from './audit-messages';

/** Checkpoints taken in one run before it continues as new, so its history stays short. */
const MAX_CHECKPOINTS_PER_RUN = 500;

/**
 * Keeps the newest signed checkpoint of a store's audit chain, in its memo and for queries. The API
 * signals one periodically and when it stops; `audit verify` compares the chain with it. Signatures are
 * checked by whoever reads the checkpoint: this workflow holds no key.
 */
export async function auditCheckpointWorkflow(carried?: AuditCheckpoint): Promise<void> {
  let newest = carried;
  let received = 0;
  setHandler(checkpointSignal, (checkpoint) => {
    received++;
    if (!isNewerCheckpoint(checkpoint, newest)) return;
    newest = checkpoint;
    upsertMemo({ [CHECKPOINT_MEMO]: checkpoint });
  });
  setHandler(latestCheckpointQuery, () => newest);
  await condition(() => received >= MAX_CHECKPOINTS_PER_RUN || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof auditCheckpointWorkflow>(newest);
}
