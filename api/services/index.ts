import type { Client } from '@temporalio/client';
import type { Stores } from '../../store';
import { createEngineService } from './engines';
import { createLeaseService, type LeaseService } from './leases';
import { createRoleService } from './roles';
import { createSecretService } from './secrets';

export function createServices(stores: Stores, temporal: Client, taskQueue: string) {
  let leases: LeaseService | undefined;
  const engines = createEngineService(stores, () => leases!);
  const roles = createRoleService(stores, engines);
  leases = createLeaseService({ stores, temporal, taskQueue, engines, roles });
  return { secrets: createSecretService(stores), engines, roles, leases };
}

export type ApiServices = ReturnType<typeof createServices>;
