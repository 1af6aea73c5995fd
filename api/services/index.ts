import type { Client } from '@temporalio/client';
import { TargetPools } from '../../engine/target-pools';
import type { Stores } from '../../store';
import { createEngineService } from './engines';
import { createLeaseService, type LeaseService } from './leases';
import { createRoleService } from './roles';
import { createSecretService } from './secrets';

export function createServices(stores: Stores, temporal: Client, taskQueue: string, options: { workerWaitMs?: number } = {}) {
  let leases: LeaseService | undefined;
  const targets = new TargetPools({ engines: stores.engines, secrets: stores.secrets });
  const engines = createEngineService(stores, targets, () => leases!);
  const roles = createRoleService(stores, engines, targets);
  leases = createLeaseService({ stores, temporal, taskQueue, engines, roles, waitMs: options.workerWaitMs });
  return { secrets: createSecretService(stores), engines, roles, leases, close: () => targets.close() };
}

export type ApiServices = ReturnType<typeof createServices>;
