import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { auditCheckpointWorkflowId, type AuditCheckpoint } from '../lib/audit-checkpoint';
import type { AuditLog } from '../store/audit';
import { CHECKPOINT_MEMO, checkpointSignal } from '../workflows/audit-messages';
import type { auditCheckpointWorkflow } from '../workflows/audit-checkpoints';
import { withinDeadline } from './services/temporal-calls';

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 60_000;
/** A checkpoint that cannot reach Temporal in this long is skipped; the next one carries the head further. */
const CALL_DEADLINE_MS = 10_000;

export interface AuditCheckpointDeps {
  audit: Pick<AuditLog, 'checkpoint'>;
  temporal: Client;
  taskQueue: string;
  storeId: string;
  log: Pick<Logger, 'warn'>;
  intervalMs?: number;
}

/**
 * Signs the audit chain's head and hands it to the store's checkpoint workflow in Temporal, every
 * `intervalMs` while the head moves and once more at shutdown. A tail cut off the log after a checkpoint
 * is then seen by `audit verify`; entries written since the last checkpoint are not yet covered.
 */
export function auditCheckpoints({
  audit,
  temporal,
  taskQueue,
  storeId,
  log,
  intervalMs = DEFAULT_CHECKPOINT_INTERVAL_MS,
}: AuditCheckpointDeps) {
  const workflowId = auditCheckpointWorkflowId(storeId);
  let sent: string | undefined;
  let writing: Promise<void> | undefined;

  async function signal(checkpoint: AuditCheckpoint) {
    await withinDeadline(temporal, CALL_DEADLINE_MS, () =>
      temporal.workflow.signalWithStart<typeof auditCheckpointWorkflow, [AuditCheckpoint]>('auditCheckpointWorkflow', {
        workflowId,
        taskQueue,
        args: [],
        signal: checkpointSignal,
        signalArgs: [checkpoint],
      }),
    );
  }

  /** Signs the head now, unless it has not moved since the last checkpoint. */
  function write(): Promise<void> {
    writing ??= (async () => {
      try {
        const checkpoint = await audit.checkpoint();
        if (!checkpoint || checkpoint.last_id === sent) return;
        await signal(checkpoint);
        sent = checkpoint.last_id;
      } catch (error) {
        log.warn(
          { err: { message: (error as Error).message } },
          'audit checkpoint not written; the next one will carry the chain head',
        );
      } finally {
        writing = undefined;
      }
    })();
    return writing;
  }

  const timer = setInterval(() => void write(), intervalMs);
  timer.unref();

  return {
    write,
    /** The newest checkpoint Temporal holds (from the workflow's memo: no worker needed), if any. */
    async latest(): Promise<AuditCheckpoint | undefined> {
      try {
        const description = await withinDeadline(temporal, CALL_DEADLINE_MS, () =>
          temporal.workflow.getHandle(workflowId).describe(),
        );
        return description.memo?.[CHECKPOINT_MEMO] as AuditCheckpoint | undefined;
      } catch (error) {
        if ((error as Error).name === 'WorkflowNotFoundError') return undefined;
        throw error;
      }
    },
    async close() {
      clearInterval(timer);
      await write(); // a checkpoint already under way may have read the head before the last entries
      await write();
    },
  };
}

export type AuditCheckpoints = ReturnType<typeof auditCheckpoints>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The audit chain's checkpoints: written on a timer and at close, or now with `write()`. */
    auditCheckpoints: AuditCheckpoints;
  }
}
