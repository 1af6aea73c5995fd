import type { Client } from '@temporalio/client';
import { TargetPools } from '../../engine/target-pools';
import type { LeasePasswordSeal } from '../../lib/lease-password';
import type { Stores } from '../../store';
import { secretDeletedSignal } from '../../workflows/rotation-messages';
import type { AuditCheckpoints } from '../audit-checkpoints';
import type { Authorizer } from '../auth';
import type { LiveTokens } from '../live-tokens';
import { createAuditService } from './audit';
import { createAuthService } from './auth';
import { createEngineRetirement } from './engine-retirement';
import { createEngineService } from './engines';
import { createLeaseService } from './leases';
import { createPolicyService } from './policies';
import { createRoleService } from './roles';
import { createRotationService } from './rotation';
import { createSecretService } from './secrets';
import { DEFAULT_WAIT_MS } from './temporal-calls';
import { createWebhookService } from './webhooks';

export interface ServiceDeps {
  stores: Stores;
  temporal: Client;
  taskQueue: string;
  authorizer: Authorizer;
  passwords: LeasePasswordSeal;
  liveTokens: Pick<LiveTokens, 'forgetToken' | 'forgetIdentity'>;
  checkpoints: Pick<AuditCheckpoints, 'latest'>;
  /** How long a call waits for a worker before the API answers without it. */
  workerWaitMs?: number;
}

/** Every service of the API, built here and only here, in one direction: each from the ones before it. */
export function createServices({
  stores,
  temporal,
  taskQueue,
  authorizer,
  passwords,
  liveTokens,
  checkpoints,
  workerWaitMs = DEFAULT_WAIT_MS,
}: ServiceDeps) {
  const targets = new TargetPools({ engines: stores.engines, secrets: stores.secrets });
  const engines = createEngineService(stores, targets, authorizer, {
    client: temporal,
    taskQueue,
    waitMs: workerWaitMs,
  });
  const roles = createRoleService(stores, engines, targets, authorizer);
  const leases = createLeaseService({
    stores,
    temporal,
    taskQueue,
    engines,
    roles,
    authorizer,
    passwords,
    waitMs: workerWaitMs,
  });
  const secretDeleted = (workflowId: string) => temporal.workflow.getHandle(workflowId).signal(secretDeletedSignal);
  return {
    secrets: createSecretService(stores, secretDeleted),
    engines,
    engineRetirement: createEngineRetirement({ stores, leases, targets }),
    roles,
    leases,
    auth: createAuthService(stores, liveTokens),
    policies: createPolicyService(stores),
    audit: createAuditService(stores, checkpoints),
    rotation: createRotationService({ stores, temporal, taskQueue, authorizer, waitMs: workerWaitMs }),
    webhooks: createWebhookService({ stores, authorizer }),
    close: () => targets.close(),
  };
}

export type ApiServices = ReturnType<typeof createServices>;
