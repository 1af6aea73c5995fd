export { leaseWorkflow } from './lease';
export { reconcileWorkflow } from './reconcile';
export { rotationWorkflow } from './rotation';
