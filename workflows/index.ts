export { leaseWorkflow } from './lease';
