export { leaseWorkflow, leaseWorkflowV2 } from './lease';
export { reconcileWorkflow } from './reconcile';
export { rotationWorkflow } from './rotation';
export { auditCheckpointWorkflow } from './audit-checkpoints';
export { rootRotationWorkflow } from './root-rotation';
