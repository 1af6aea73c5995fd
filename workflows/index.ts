export { leaseWorkflow } from './lease';
export { reconcileWorkflow } from './reconcile';
