import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { AuditCheckpoint } from '../lib/audit-checkpoint';

/** A signed checkpoint of the audit chain; the workflow keeps the newest. */
export const checkpointSignal = defineSignal<[AuditCheckpoint]>('checkpoint');
export const latestCheckpointQuery = defineQuery<AuditCheckpoint | undefined>('latestCheckpoint');
/** The memo field that holds the newest checkpoint, readable with `describe()` while no worker runs. */
export const CHECKPOINT_MEMO = 'checkpoint';
