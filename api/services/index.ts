import type { Client } from '@temporalio/client';
import { TargetPools } from '../../engine/target-pools';
import type { LeasePasswordSeal } from '../../lib/lease-password';
import type { Stores } from '../../store';
import type { Authorizer } from '../auth';
import { createEngineService } from './engines';
import { createLeaseService, type LeaseService } from './leases';
import { createRoleService } from './roles';
import { createSecretService } from './secrets';
import { DEFAULT_WAIT_MS } from './temporal-calls';
import { secretDeletedSignal } from '../../workflows/rotation-messages';

export function createServices(stores: Stores, temporal: Client, taskQueue: string, authorizer: Authorizer, passwords: LeasePasswordSeal, options: { workerWaitMs?: number } = {}) {
  let leases: LeaseService | undefined;
  const targets = new TargetPools({ engines: stores.engines, secrets: stores.secrets });
  const engines = createEngineService(stores, targets, authorizer, { client: temporal, taskQueue, waitMs: options.workerWaitMs ?? DEFAULT_WAIT_MS }, () => leases!);
  const roles = createRoleService(stores, engines, targets, authorizer);
  leases = createLeaseService({ stores, temporal, taskQueue, engines, roles, authorizer, passwords, waitMs: options.workerWaitMs });
  const secretDeleted = (workflowId: string) => temporal.workflow.getHandle(workflowId).signal(secretDeletedSignal);
  return { secrets: createSecretService(stores, secretDeleted), engines, roles, leases, close: () => targets.close() };
}

export type ApiServices = ReturnType<typeof createServices>;
